// Package bench is siogate's load-testing kit: a lean Engine.IO v4 /
// Socket.IO v5 load generator (Run), the server under test (NewNode), a
// floor fixture that answers the same event contract by string surgery
// over plain gws WebSockets (NewFloor), and readers of a server process's
// CPU time and memory from /proc.
//
// The event contract every server under test implements, namespace "/":
//
//	"echo" args... with an ack id   acks with the same args
//	"binary" buf with an ack id     acks with the same buffer (an attachment)
//	"broadcast" args...             emits "tick" args... to every socket
//	"join" rooms... with an ack id  joins the rooms (server side), then acks
//	"to-room" room args...          emits "tick" args... to the room's sockets
//
// The commands siobench, benchnode, floor and benchrun wrap these; see
// BENCHMARKS.md at the repository root for the measured numbers.
package bench
