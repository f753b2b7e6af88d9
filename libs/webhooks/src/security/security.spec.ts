import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import standardwebhooks from 'standardwebhooks';
import { isPrivateAddress, targetUrlProblem, WebhookAllowlist } from './address-guard.js';
import { loadEncryptionKey } from './encryption-key.js';
import { SecretBox, SecretBoxError } from './secret-box.js';
import { generateSigningSecret, signatureHeader } from './signing.js';

describe('private addresses', () => {
  test('loopback, private, link-local, metadata, CGNAT and mapped forms are private; public ones are not', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.100.100.200', '0.0.0.0', '::1', 'fe80::1', 'fd00:ec2::254', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::a9fe:a9fe']) {
      expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) expect([a, isPrivateAddress(a)]).toEqual([a, false]);
  });

  test('the allow-list admits hosts and networks for plain http and private addresses', () => {
    const none = new WebhookAllowlist('');
    const list = new WebhookAllowlist('127.0.0.1/32, hooks.internal, *.corp.example');
    expect(targetUrlProblem('http://example.com/x', none)).toMatch(/https/);
    expect(targetUrlProblem('https://127.0.0.1:9/x', none)).toMatch(/loopback/);
    expect(targetUrlProblem('https://[::1]/x', none)).toMatch(/loopback/);
    expect(targetUrlProblem('https://user:pw@example.com/', none)).toMatch(/credentials/);
    expect(targetUrlProblem('ftp://example.com/', none)).toMatch(/https/);
    expect(targetUrlProblem('https://example.com/x', none)).toBeNull();
    expect(targetUrlProblem('http://127.0.0.1:9/x', list)).toBeNull();
    expect(targetUrlProblem('http://127.0.0.2:9/x', list)).toMatch(/https/);
    expect(targetUrlProblem('http://hooks.internal/x', list)).toBeNull();
    expect(list.permitsAddress('a.corp.example', '10.0.0.1')).toBe(true);
    expect(list.permitsAddress('other.example', '10.0.0.1')).toBe(false);
    expect(list.permitsAddress('other.example', '127.0.0.1')).toBe(true);
  });
});

describe('secrets at rest', () => {
  test('AES-256-GCM bound to its record', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = box.seal('whsec_abc', 'endpoint-1');
    expect(sealed).not.toContain('whsec_abc');
    expect(box.open(sealed, 'endpoint-1')).toBe('whsec_abc');
    expect(() => box.open(sealed, 'endpoint-2')).toThrow(SecretBoxError);
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'endpoint-1')).toThrow(/sealed with key/);
  });

  test('without OPSLEDGER_ENCRYPTION_KEY a key is generated once into the data dir, mode 0600', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'opsledger-key-'));
    try {
      const first = loadEncryptionKey({ OPSLEDGER_DATA_DIR: dir });
      const second = loadEncryptionKey({ OPSLEDGER_DATA_DIR: dir });
      expect(first.source).toBe('generated');
      expect(second.source).toBe('file');
      expect(second.key.equals(first.key)).toBe(true);
      expect(statSync(path.join(dir, 'encryption-key')).mode & 0o777).toBe(0o600);
      expect(readFileSync(path.join(dir, 'encryption-key'), 'utf8').trim()).toHaveLength(44);
      const fromEnv = loadEncryptionKey({ OPSLEDGER_DATA_DIR: dir, OPSLEDGER_ENCRYPTION_KEY: 'ab'.repeat(32) });
      expect(fromEnv).toEqual({ key: Buffer.alloc(32, 0xab), source: 'env' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Standard Webhooks signatures', () => {
  test('verify with the standardwebhooks package, with either secret during a rotation', () => {
    const current = generateSigningSecret();
    const previous = generateSigningSecret();
    expect(current).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const timestamp = new Date();
    const body = JSON.stringify({ type: 'x.y', timestamp: timestamp.toISOString(), data: { a: 1 } });
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': signatureHeader([current, previous], 'msg_1', timestamp, body) };
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of [current, previous]) expect(new standardwebhooks.Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new standardwebhooks.Webhook(generateSigningSecret()).verify(body, headers)).toThrow();
    expect(() => new standardwebhooks.Webhook(current).verify(body + ' ', headers)).toThrow();
  });

  test('sign the same bytes as the standardwebhooks package, non-ASCII bodies too', () => {
    const secret = generateSigningSecret();
    const timestamp = new Date(1_700_000_000_999);
    for (const body of ['', '{"a":1}', JSON.stringify({ text: 'Größe ✓ 日本語 🚀', n: [1, 2, 3] })]) {
      expect(signatureHeader([secret], 'msg_ü', timestamp, body)).toBe(new standardwebhooks.Webhook(secret).sign('msg_ü', timestamp, body));
    }
  });
});
