// Package cluster runs the host as one node of a cluster: sessions are
// virtual actors (protoactor-go cluster grains, placed by the disthash
// identity lookup over the members etcd lists) that live on one node at a
// time, over the PostgreSQL store every node shares.
//
// A Node is the runtime facade the HTTP and gRPC handlers call, as the
// single-node *host.Host is: it embeds the node's own host for everything
// that is not addressed to a session (creating and listing sessions, jobs,
// models), and sends what is addressed to a session to that session's
// grain, wherever it runs. The grain serves the call with its node's host.
//
//   - Fencing: a grain's activation claims the session in the store
//     (persist.Store.ClaimSession, a new owner epoch); every save of the
//     session from that node then carries the epoch and is refused once
//     another node has claimed the session, so a node cut off from the
//     others can never overwrite its successor's writes.
//   - Idempotency: each call carries an id; the grain answers a repeated id
//     with its first answer, since a cluster request may be delivered more
//     than once. A turn start repeated is the same turn, never a second.
//   - Streams: the node that holds the client's connection spawns a relay
//     actor; the grain's node spawns a forwarder that reads the host's
//     stream and sends each event (numbered by the session as on one node)
//     to the relay. Each watches the other, so a node's death ends the
//     other side: the client's stream ends, and the turn, recorded as
//     interrupted when the session comes back on a survivor, can be
//     re-attached from any node.
//
// Messages between nodes are wrapperspb.BytesValue holding JSON, so no
// generated code is needed and both sides link the same types.
package cluster
