import type { Logger } from './logging/logger.js';

/** Per-request variables every handler can rely on. */
export interface GatewayEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    /** Set by the auth middleware on authenticated routes. */
    tenant: string;
    engine: string;
  };
}
