export type MessageHandler = (message: string) => void;

/**
 * Messages between the registry processes that share one database (revocations, cache invalidations). Delivery is
 * best effort: the database stays the source of truth. The registry declares it; src/cache/redis-bus.ts implements
 * it on Redis pub/sub.
 */
export interface MessageBus {
  /** Resolves true once the message was accepted for delivery, false when it could not be sent; never rejects. */
  publish(channel: string, message: string): Promise<boolean>;
  /** Calls `handler` for every message on `channel` from now on, across reconnects; returns the function that stops it. */
  subscribe(channel: string, handler: MessageHandler): () => void;
  close(): Promise<void>;
}
