/**
 * The S3 store (AWS S3 or any S3-compatible server): objects are s3://bucket/key. A PUT is
 * atomic by S3's semantics. The sha256 checksum is stored in the object's metadata
 * (x-amz-meta-sha256) and verified on every read. The SDK's own checksums are turned off
 * (WHEN_REQUIRED), which S3-compatible servers need; ours cover the data end to end.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ListObjectsV2CommandOutput, S3Client } from '@aws-sdk/client-s3';
import { ExitCode, MissingInputError, PermissionError, RapidError, UsageError } from '../util/errors.ts';
import {
  checkChecksum,
  type ListedObject,
  type ObjectStore,
  type PutData,
  type StoredObject,
  sha256,
  sha256File,
  toBytes,
} from './store.ts';

export interface S3Options {
  endpoint?: string;
  region?: string;
}

export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new UsageError(`'${uri}' is not an s3://bucket/key URI`);
  return { bucket: m[1], key: m[2] };
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** What AWS calls a refusal: the keys or the policy. */
const DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
]);

/**
 * An S3 error as a RapidError with the code an operator can act on:
 *
 * - no such object or bucket: 66;
 * - no credentials found, or credentials or policy refused (403): 77, saying what to set;
 * - an endpoint host that does not exist (ENOTFOUND): 64, a configuration error;
 * - anything the server or network did (5xx, refused, reset, timed out): 75, retry.
 */
export function s3Error(uri: string, what: string, err: unknown): Error {
  if (err instanceof RapidError) return err;
  if (isNotFound(err)) return new MissingInputError(`${uri}: no such object`);
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    hostname?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e?.$metadata?.httpStatusCode;
  if (e?.name === 'CredentialsProviderError' || /Could not load credentials/i.test(e?.message ?? ''))
    return new PermissionError(
      `${uri}: no AWS credentials for ${what}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run with an IAM role)`,
      { cause: err },
    );
  if (status === 403 || (e?.name !== undefined && DENIED.has(e.name)))
    return new PermissionError(
      `${uri}: access denied while ${what} (${e?.name ?? 403}); check the AWS credentials and the bucket policy`,
      { cause: err },
    );
  if (e?.name === 'NoSuchBucket')
    return new MissingInputError(`${uri}: no such bucket; create it or check the store URI`);
  if (e?.code === 'ENOTFOUND')
    return new UsageError(
      `${uri}: no such host${e.hostname ? ` ${e.hostname}` : ''} (ENOTFOUND) while ${what}; check the S3 endpoint (--s3-endpoint, RAPID_S3_ENDPOINT) and the region`,
    );
  const code = e?.code ?? e?.name;
  return new RapidError(
    `${uri}: S3 ${what} failed (${code ?? 'error'}${status ? ` ${status}` : ''}: ${e?.message ?? String(err)}); retry`,
    ExitCode.TEMPORARY,
    { cause: err },
  );
}

export class S3Store implements ObjectStore {
  readonly kind = 's3' as const;
  readonly root: string;
  private readonly options: S3Options;
  /** The SDK and a client, loaded on first use: the SDK costs 0.1 s of start-up to every command. */
  private connection?: Promise<{ sdk: typeof import('@aws-sdk/client-s3'); client: S3Client }>;

  constructor(root: string, options: S3Options = {}) {
    this.root = root.replace(/\/+$/, '');
    parseS3Uri(this.root);
    this.options = options;
  }

  private connect() {
    this.connection ??= import('@aws-sdk/client-s3').then((sdk) => {
      // The SDK warns about Node 20 for its releases of 2027 on; the pinned release supports it.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      const o = this.options;
      const client = new sdk.S3Client({
        endpoint: o.endpoint,
        region: o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        forcePathStyle: o.endpoint !== undefined,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 4,
      });
      return { sdk, client };
    });
    return this.connection;
  }

  /** The SDK client (for tests and tools that need a raw S3 call). */
  async s3Client(): Promise<S3Client> {
    return (await this.connect()).client;
  }

  uri(key: string): string {
    return `${this.root}/${key.replace(/^\/+/, '')}`;
  }

  owns(uri: string): boolean {
    return uri.startsWith('s3://');
  }

  async put(uri: string, data: PutData, options: { contentType?: string } = {}): Promise<StoredObject> {
    const { bucket, key } = parseS3Uri(uri);
    const { sdk, client } = await this.connect();
    let body: Uint8Array | Readable;
    let checksum: string;
    let bytes: number;
    if (typeof data === 'object' && 'path' in data) {
      ({ checksum, bytes } = await sha256File(data.path));
      body = createReadStream(data.path);
    } else {
      body = toBytes(data);
      checksum = sha256(body);
      bytes = body.length;
    }
    try {
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: bytes,
          ContentType: options.contentType,
          Metadata: { sha256: checksum.slice('sha256:'.length) },
        }),
      );
    } catch (err) {
      throw s3Error(uri, 'write', err);
    }
    return { uri, checksum, bytes };
  }

  private recordedChecksum(metadata: Record<string, string> | undefined): string | undefined {
    const v = metadata?.sha256;
    return v && /^[0-9a-f]{64}$/.test(v) ? `sha256:${v}` : undefined;
  }

  async get(uri: string, checksum?: string): Promise<Uint8Array> {
    const { bucket, key } = parseS3Uri(uri);
    const { sdk, client } = await this.connect();
    let out: Uint8Array;
    let recorded: string | undefined;
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
      recorded = this.recordedChecksum(r.Metadata);
      out = await r.Body!.transformToByteArray();
    } catch (err) {
      throw s3Error(uri, 'read', err);
    }
    checkChecksum(uri, checksum ?? recorded, sha256(out));
    return out;
  }

  async getText(uri: string, checksum?: string): Promise<string> {
    return Buffer.from(await this.get(uri, checksum)).toString('utf8');
  }

  async localPath(uri: string, tmpDir: string, checksum?: string): Promise<string> {
    const { bucket, key } = parseS3Uri(uri);
    const { sdk, client } = await this.connect();
    await mkdir(tmpDir, { recursive: true });
    const path = join(tmpDir, `${Date.now().toString(36)}-${basename(key) || 'object'}`);
    let recorded: string | undefined;
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
      recorded = this.recordedChecksum(r.Metadata);
      await pipeline(r.Body as Readable, createWriteStream(path));
    } catch (err) {
      await unlink(path).catch(() => {});
      throw s3Error(uri, 'download', err);
    }
    const actual = await sha256File(path);
    try {
      checkChecksum(uri, checksum ?? recorded, actual.checksum);
    } catch (err) {
      await unlink(path).catch(() => {});
      throw err;
    }
    return path;
  }

  async exists(uri: string): Promise<boolean> {
    const { bucket, key } = parseS3Uri(uri);
    const { sdk, client } = await this.connect();
    try {
      await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw s3Error(uri, 'look-up', err);
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    const { bucket, key } = parseS3Uri(prefix);
    const { sdk, client } = await this.connect();
    let token: string | undefined;
    do {
      let r: ListObjectsV2CommandOutput;
      try {
        r = await client.send(
          new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token }),
        );
      } catch (err) {
        throw s3Error(prefix, 'listing', err);
      }
      for (const o of r.Contents ?? []) {
        if (o.Key !== undefined) yield { uri: `s3://${bucket}/${o.Key}`, bytes: o.Size ?? 0 };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(uri: string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    const { sdk, client } = await this.connect();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      if (!isNotFound(err)) throw s3Error(uri, 'delete', err);
    }
  }

  async close(): Promise<void> {
    if (this.connection) (await this.connection).client.destroy();
  }
}
