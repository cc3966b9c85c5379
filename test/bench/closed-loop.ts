// The closed-loop load of the benchmark's HTTP sections: `clients` loops, each sending its next call once the last
// answer arrived, for `seconds`.

/** Each call's latency in ms, in the order the calls ended. */
export async function closedLoop(send: () => Promise<unknown>, clients: number, seconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const started = performance.now();
        await send();
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}
