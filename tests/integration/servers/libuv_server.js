// A node `net` server that holds every connection. Run it under a small
// RLIMIT_NOFILE: once out of fds, libuv's reserve-fd trick accepts each
// waiting connection and closes it at once, and node logs nothing.
// Usage: node libuv_server.js PORT LIFETIME_S
// Prints: "PID pid=N", "LISTEN port=P", "HELD n=N".
'use strict';
const net = require('net');
const [port, lifetime] = [Number(process.argv[2]), Number(process.argv[3])];
const held = [];
console.log(`PID pid=${process.pid}`);
const server = net.createServer((sock) => {
  held.push(sock);
  sock.on('error', () => {});
  console.log(`HELD n=${held.length}`);
});
server.on('error', (e) => console.log(`SERVER_ERROR ${e.code}`));
server.listen(port, '127.0.0.1', () => console.log(`LISTEN port=${port}`));
setTimeout(() => process.exit(0), lifetime * 1000);
