// The limit of the REST and Connect JSON rows of `npm run bench`: a node:http server that answers every request with
// one fixed JSON body after reading the request's, in an OS process of its own. Prints its URL as one JSON line.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = JSON.stringify({ agent_name: 'empty.example', status: 'active', verified: true });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
