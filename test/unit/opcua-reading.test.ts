import assert from 'node:assert/strict';
import test from 'node:test';
import { DataType, DataValue, StatusCodes, Variant, VariantArrayType } from 'node-opcua';
import { qualityOf, sampleOf } from '../../agent/sources/opcua/tag-reading.js';

const T = new Date('2026-01-01T00:00:00Z');

test('status classes: Good, Uncertain and Bad from the severity bits', () => {
  assert.equal(qualityOf(StatusCodes.Good), 'good');
  assert.equal(qualityOf(StatusCodes.UncertainLastUsableValue), 'uncertain');
  assert.equal(qualityOf(StatusCodes.BadSensorFailure), 'bad');
  assert.equal(qualityOf(StatusCodes.BadNoCommunication), 'bad');
});

test('a data value becomes a sample stamped with its source time, its status kept', () => {
  const { sample, refused } = sampleOf('t', new DataValue({ value: new Variant({ dataType: DataType.Double, value: 4.5 }), statusCode: StatusCodes.UncertainLastUsableValue, sourceTimestamp: T }), 0, 12);
  assert.equal(refused, undefined);
  assert.deepEqual(sample, { tag: 't', value: 4.5, quality: 'uncertain', status: 'UncertainLastUsableValue', sourceTs: T.getTime(), receivedAt: 12 });
  const int64 = sampleOf('n', new DataValue({ value: new Variant({ dataType: DataType.Int64, arrayType: VariantArrayType.Scalar, value: [1, 5] }), sourceTimestamp: T }), 0, 0);
  assert.equal(int64.sample.value, 2 ** 32 + 5);
});

test('a value that is not one scalar is refused, named, and the sample marked Bad', () => {
  const array = sampleOf('a', new DataValue({ value: new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1, 2, 3] }), sourceTimestamp: T }), 0, 0);
  assert.equal(array.refused, 'an array, not a number, boolean or string');
  assert.equal(array.sample.quality, 'bad');
  assert.equal(array.sample.status, 'BadTypeMismatch');
  assert.equal(array.sample.value, null);
  const long = sampleOf('s', new DataValue({ value: new Variant({ dataType: DataType.String, value: 'x'.repeat(2000) }), sourceTimestamp: T }), 0, 0);
  assert.equal(long.refused, 'a string longer than 1024 characters');
  const when = sampleOf('d', new DataValue({ value: new Variant({ dataType: DataType.DateTime, value: T }) }), 99, 0);
  assert.equal(when.refused, 'a date, not a number, boolean or string');
  assert.equal(when.sample.sourceTs, 99, 'without timestamps the agent stamps the sample itself');
});
