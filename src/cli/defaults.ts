// Defaults and exit codes that a command's help states and its implementation uses.

/** The mTLS listener's port when ATR_MTLS_SERVER and MTLS_PORT do not say (the server's MTLS_PORT default). */
export const DEFAULT_MTLS_PORT = 8443;

/** Exit codes of `atr agent run` beyond 0 (stopped by SIGINT/SIGTERM), 1 (error) and 2 (usage). */
export const EXIT_REVOKED = 3;
export const EXIT_EXPIRED = 4;

/** Exit code of `atr log monitor` when the log is inconsistent with what it verified before. */
export const EXIT_INCONSISTENT = 3;
export const DEFAULT_MONITOR_STATE_FILE = './var/log-monitor.json';
export const DEFAULT_MONITOR_INTERVAL_SECONDS = 10;

export const DEFAULT_SEED_CAPABILITIES = ['chat', 'search', 'code', 'payments', 'translate', 'vision', 'booking', 'support'];
