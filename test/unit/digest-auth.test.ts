import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigestSession, parseDigestChallenge } from '../../agent/sources/camera/digest-auth.js';

// RFC 7616 section 3.9.1.
const RFC = {
  realm: 'http-auth@example.org',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
};
const request = { method: 'GET', uri: '/dir/index.html', username: 'Mufasa', password: 'Circle of Life' };
const challengeHeaders = [
  `Digest realm="${RFC.realm}", qop="auth, auth-int", algorithm=MD5, nonce="${RFC.nonce}", opaque="${RFC.opaque}"`,
  `Digest realm="${RFC.realm}", qop="auth, auth-int", algorithm=SHA-256, nonce="${RFC.nonce}", opaque="${RFC.opaque}"`,
];

function field(header: string, name: string): string | undefined {
  return new RegExp(`${name}="?([^",]*)"?`).exec(header)?.[1];
}

test('the RFC 7616 example: SHA-256 is chosen over MD5 and gives the RFC response', () => {
  const challenge = parseDigestChallenge(challengeHeaders);
  assert.equal(challenge?.algorithm, 'SHA-256');
  const header = new DigestSession(challenge!, () => RFC.cnonce).authorization(request);
  assert.equal(field(header, 'response'), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  assert.equal(field(header, 'nc'), '00000001');
  assert.equal(field(header, 'opaque'), RFC.opaque);
  assert.equal(field(header, 'qop'), 'auth');
});

test('the RFC 7616 example with MD5', () => {
  const challenge = parseDigestChallenge(challengeHeaders[0]);
  const header = new DigestSession(challenge!, () => RFC.cnonce).authorization(request);
  assert.equal(field(header, 'response'), '8ca523f5e9506fed4657c9700eebdbec');
});

test('RFC 2617 example (MD5, qop auth, nc 1)', () => {
  const challenge = parseDigestChallenge('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"');
  const header = new DigestSession(challenge!, () => '0a4f113b').authorization({ method: 'GET', uri: '/dir/index.html', username: 'Mufasa', password: 'Circle Of Life' });
  assert.equal(field(header, 'response'), '6629fae49393a05397450978507c4ef1');
});

test('the nonce count goes up with each request on one nonce', () => {
  const session = new DigestSession(parseDigestChallenge(challengeHeaders[1])!, () => RFC.cnonce);
  session.authorization(request);
  assert.equal(field(session.authorization(request), 'nc'), '00000002');
});

test('challenges the client cannot answer are ignored; other schemes in the header are skipped', () => {
  assert.equal(parseDigestChallenge('Basic realm="cam"'), undefined);
  assert.equal(parseDigestChallenge('Digest realm="cam", nonce="n", qop="auth-int"'), undefined);
  assert.equal(parseDigestChallenge('Digest realm="cam", nonce="n", algorithm=SHA-512-256'), undefined);
  assert.equal(parseDigestChallenge(undefined), undefined);
  const mixed = parseDigestChallenge('Basic realm="cam", Digest realm="a \\"quoted\\" realm", nonce="abc", stale=TRUE');
  assert.deepEqual(mixed, { realm: 'a "quoted" realm', nonce: 'abc', algorithm: 'MD5', stale: true, userhash: false });
});

test('without qop the RFC 2069 response is sent, without nc or cnonce', () => {
  const header = new DigestSession(parseDigestChallenge('Digest realm="cam", nonce="xyz"')!).authorization({ ...request, uri: '/snap.jpg' });
  assert.equal(field(header, 'nc'), undefined);
  assert.match(header, /^Digest username="Mufasa", realm="cam", uri="\/snap.jpg", algorithm=MD5, nonce="xyz", response="[0-9a-f]{32}"$/);
});
