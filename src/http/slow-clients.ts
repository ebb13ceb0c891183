// Answers for clients that break the transport rather than a service's rules: a request
// body that stops arriving, headers that never finish or are too large. They are decided
// here, before or beside the service handler, so the error documents are written here
// too, in the wire format of the service the request was routed to (S3 XML, KMS and
// admin JSON, IAM and STS Query XML); the texts are AWS's.

import type { IncomingMessage, ServerResponse } from 'node:http';

/** The wire format of the service a request was routed to. */
export type WireFormat = 's3' | 'kms' | 'admin' | 'iam' | 'sts';

// S3's own words for an idle connection; the JSON and Query protocols' retryable timeout.
const S3_REQUEST_TIMEOUT = 'Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.';
const QUERY_NAMESPACE = { iam: 'https://iam.amazonaws.com/doc/2010-05-08/', sts: 'https://sts.amazonaws.com/doc/2011-06-15/' } as const;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function s3ErrorXml(code: string, message: string, requestId: string, hostId: string, fields: Record<string, string> = {}): string {
  const extra = Object.entries(fields).map(([k, v]) => `<${k}>${esc(v)}</${k}>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${esc(message)}</Message>${extra}<RequestId>${requestId}</RequestId><HostId>${hostId}</HostId></Error>`;
}

// Responses the transport wrote itself: the handler's own late failure on them (its body
// read cut short, headers already sent) is expected, not a bug to log.
const ANSWERED = new WeakSet<ServerResponse>();

export function answeredByTransport(res: ServerResponse): boolean {
  return ANSWERED.has(res);
}

/** Writes the service's request-timeout error with Connection: close; the socket closes once it is sent. */
function answerTimeout(res: ServerResponse, format: WireFormat, requestId: string): void {
  ANSWERED.add(res);
  let status = 408;
  let type = 'application/x-amz-json-1.1';
  let body: string;
  if (format === 's3') {
    status = 400;
    type = 'application/xml';
    body = s3ErrorXml('RequestTimeout', S3_REQUEST_TIMEOUT, requestId, String(res.getHeader('x-amz-id-2') ?? ''));
  } else if (format === 'iam' || format === 'sts') {
    type = 'text/xml';
    body = `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${QUERY_NAMESPACE[format]}"><Error><Type>Sender</Type><Code>RequestTimeoutException</Code><Message>The request body was not received within the timeout period.</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
  } else {
    if (format === 'admin') type = 'application/json';
    body = JSON.stringify({ __type: 'RequestTimeoutException', message: 'The request body was not received within the timeout period.' });
  }
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Cuts a request whose body sends nothing for `idleMs`: the service's timeout error if
 * nothing was answered yet, then the connection is closed. The handler's body read then
 * fails, and a write in progress is abandoned (the previous object stays).
 * The clock is the socket's idle timer, so any byte either way restarts it; it stops
 * when the body has arrived, and Node's keep-alive timer takes the socket over after
 * the response.
 */
export function watchBodyIdle(req: IncomingMessage, res: ServerResponse, idleMs: number, format: WireFormat, requestId: string): void {
  if (req.complete || !hasBody(req)) return;
  req.setTimeout(idleMs, () => {
    if (!res.headersSent) answerTimeout(res, format, requestId);
    else req.socket.destroy();
  });
  req.once('end', () => {
    if (!res.writableEnded) req.socket.setTimeout(0);
  });
}

/**
 * The raw response for a connection Node's parser gave up on, before a request existed:
 * headers over `maxHeaderSize` get S3's RequestHeaderSectionTooLarge, headers that did
 * not finish in time S3's RequestTimeout (a connection that sent nothing is only
 * closed), anything else a bare 400 as Node sends it.
 */
export function clientErrorResponse(code: string | undefined, bytesRead: number, requestId: string, hostId: string, maxHeaderSize: number): string | undefined {
  let body: string;
  if (code === 'HPE_HEADER_OVERFLOW') {
    body = s3ErrorXml('RequestHeaderSectionTooLarge', 'Your request header section exceeds the maximum allowed size.', requestId, hostId, { MaxSizeAllowed: String(maxHeaderSize) });
  } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    if (bytesRead === 0) return undefined;
    body = s3ErrorXml('RequestTimeout', S3_REQUEST_TIMEOUT, requestId, hostId);
  } else {
    return 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
  }
  return 'HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\nx-amz-request-id: ${requestId}\r\nx-amz-id-2: ${hostId}\r\nServer: Coffer\r\nConnection: close\r\n\r\n${body}`;
}
