import sharp from 'sharp';
const P = '/work/shared/data/images/photos/';
function noise(w: number, h: number, amp: number, seed: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < b.length; i++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; b[i] = 128 + (((s & 0xff) + ((s >>> 8) & 0xff) - 255) * amp) / 255; }
  return b;
}
for (const amp of [0, 8, 16, 24]) {
  const base = await sharp(P + 'ortex_goldfish.jpg').resize(1920, 1080, { fit: 'cover' }).removeAlpha().raw().toBuffer();
  let img = sharp(base, { raw: { width: 1920, height: 1080, channels: 3 } });
  if (amp) img = img.composite([{ input: noise(1920, 1080, amp, 7), raw: { width: 1920, height: 1080, channels: 3 }, blend: 'soft-light' }]);
  const jpg = await img.jpeg({ quality: 90 }).toBuffer();
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) await sharp(jpg).resize(224, 224, { fit: 'fill' }).raw().toBuffer();
  console.log(amp, jpg.length, ((performance.now() - t0) / 20).toFixed(1), 'ms');
}
