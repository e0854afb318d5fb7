import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from './logging/logger.js';
import type { TraceScope } from './observability/tracing.js';

/** Per-request variables every handler can rely on. */
export interface GatewayEnv {
  /**
   * Node's request and response, under Node's HTTP server. When the app is called directly (`app.request`) there
   * are none, and `c.env` itself may be undefined.
   */
  Bindings: { readonly incoming?: IncomingMessage | undefined; readonly outgoing?: ServerResponse | undefined };
  Variables: {
    requestId: string;
    /** The W3C trace id of this request (the caller's, when it sent a traceparent). */
    traceId: string;
    /** Where this request's stages make their spans. */
    trace: TraceScope;
    logger: Logger;
    /** Set by the auth middleware on authenticated routes. */
    tenant: string;
    /** Set by `authenticateViewer`: an operator, who sees every tenant (and has no `tenant`). */
    admin: boolean;
    engine: string;
    /** The error code the request was answered with, for its log line. */
    errorCode: string;
  };
}
