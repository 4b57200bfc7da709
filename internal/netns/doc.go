// Package netns makes hosts for cluster tests out of Linux network namespaces, so that a test on
// one machine can run programs that reach each other only over links it controls.
//
// New creates a switch namespace holding a bridge and one namespace per host, each joined to the
// bridge by a veth pair; each host has an address on that link (10.77.S.H/24) and no other route:
// nothing is routed beyond the links, and the root namespace is left alone unless WithRoot asks
// for a link into it (the test process itself then becomes a host). Host.Command starts a program
// in a host, Host.Cut and Host.Restore take its link down and up again, and the test's Cleanup
// (or Net.Close) kills what still runs in the namespaces and removes them. Namespaces left behind
// by a test process that died are removed by the next New.
//
// New skips the test, with a message saying why, where namespaces cannot be made: not on Linux,
// not root, no ip command (Debian's iproute2 package), or a kernel that refuses. The package is
// for tests only; it imports testing.
package netns
