import { describe, expect, it } from 'vitest';
import { parseLocation } from './location.js';

describe('parseLocation', () => {
  it('resolves relative file: locations against the config folder', () => {
    expect(parseLocation('file:./data/acme/', '/etc/lakegate')).toEqual({
      kind: 'file',
      path: '/etc/lakegate/data/acme',
    });
    expect(parseLocation('file:///srv/x/', '/ignored')).toEqual({ kind: 'file', path: '/srv/x' });
  });

  it('splits s3 locations into bucket and prefix', () => {
    expect(parseLocation('s3://bucket/acme/events', '/')).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: 'acme/events/',
    });
    expect(parseLocation('s3://bucket', '/')).toEqual({ kind: 's3', bucket: 'bucket', prefix: '' });
  });

  it('describes what is wrong with a bad location', () => {
    expect(parseLocation('http://x/y', '/')).toHaveProperty('problem');
    expect(parseLocation('s3://Bad_Bucket/x', '/')).toHaveProperty('problem');
  });
});
