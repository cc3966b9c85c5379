import { Redis } from 'ioredis';
import { type Logger, silentLogger } from '../log/logger.ts';
import type { MessageBus, MessageHandler } from '../registry/message-bus.ts';
import { redisConnectionOptions as connectionOptions } from './redis-client.ts';


/**
 * Pub/sub on Redis: one connection publishes, one subscribes (a subscribed RESP2 connection can do nothing else).
 *
 * Redis is optional and never the source of truth, so an outage must cost nothing but speed: publishes fail fast
 * (one reconnect attempt, then rejected rather than queued forever), the subscriber reconnects and resubscribes on
 * its own, and the outage is logged once, with its end.
 */
export class RedisBus implements MessageBus {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly handlers = new Map<string, Set<MessageHandler>>();
  private outage = false;
  private closed = false;

  constructor(
    url: string,
    private readonly logger: Logger = silentLogger,
  ) {
    this.publisher = new Redis(url, { ...connectionOptions, maxRetriesPerRequest: 1, commandTimeout: 1_000 });
    // SUBSCRIBE waits in the offline queue until the first connection; ioredis resubscribes after each reconnect.
    this.subscriber = new Redis(url, { ...connectionOptions, maxRetriesPerRequest: null });
    for (const connection of [this.publisher, this.subscriber]) {
      connection.on('error', (error: Error) => this.failed(error));
      connection.on('ready', () => this.recovered());
    }
    this.subscriber.on('message', (channel: string, message: string) => {
      for (const handler of [...(this.handlers.get(channel) ?? [])]) {
        try {
          handler(message);
        } catch {
          // One failing handler must not keep the message from the others.
        }
      }
    });
  }

  async publish(channel: string, message: string): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.publisher.publish(channel, message);
      return true;
    } catch (error) {
      if (!this.closed) this.failed(error as Error);
      return false;
    }
  }

  subscribe(channel: string, handler: MessageHandler): () => void {
    let handlers = this.handlers.get(channel);
    if (handlers === undefined) {
      handlers = new Set();
      this.handlers.set(channel, handlers);
      this.subscriber.subscribe(channel).catch((error: unknown) => {
        if (!this.closed) this.failed(error as Error);
      });
    }
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
      if (handlers.size > 0 || this.handlers.get(channel) !== handlers) return;
      this.handlers.delete(channel);
      if (!this.closed) this.subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }

  private failed(error: Error): void {
    if (this.outage || this.closed) return;
    this.outage = true;
    this.logger.error({ component: 'redis', err: error }, 'redis unreachable; polling the database until it is back');
  }

  private recovered(): void {
    if (!this.outage || this.publisher.status !== 'ready' || this.subscriber.status !== 'ready') return;
    this.outage = false;
    this.logger.info({ component: 'redis' }, 'redis connected again');
  }
}
