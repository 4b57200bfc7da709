package mpnats

import (
	"context"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/nats-io/nats.go/jetstream"
)

// Subjects and JetStream names of the executor.
const (
	taskStream    = "MP_TASKS"
	taskSubjects  = "mp.tasks.>"
	taskConsumer  = "mp-agents"
	cancelSubject = "mp.cancel"
	hbPrefix      = "mp.hb."
	objectBucket  = "mp_objects"
)

// taskEnv is a task as it travels to an agent.
type taskEnv struct {
	ID          string `cbor:"1,keyasint"`
	Func        string `cbor:"2,keyasint"`
	Chunk       int    `cbor:"3,keyasint,omitempty"`
	Timeout     int64  `cbor:"4,keyasint,omitempty"` // ns
	Arg         []byte `cbor:"5,keyasint,omitempty"`
	ArgObj      string `cbor:"6,keyasint,omitempty"` // the argument's object in the Object Store
	Hash        string `cbor:"7,keyasint"`           // mp.RegistryHash of the head
	MaxAttempts int    `cbor:"8,keyasint"`
	Reply       string `cbor:"9,keyasint"`            // where the result goes
	MaxResult   int64  `cbor:"10,keyasint,omitempty"` // the result size limit
}

// Kinds of results.
const (
	resDone    = 0 // the task's outcome: completes the Future
	resAttempt = 1 // an attempt ended with its worker's death; the task goes to an agent again
	resStarted = 2 // an agent started an attempt
)

// resultEnv is an agent's message about a task.
type resultEnv struct {
	ID       string `cbor:"1,keyasint"`
	Kind     int    `cbor:"2,keyasint,omitempty"`
	Attempt  int    `cbor:"3,keyasint"`
	Agent    string `cbor:"4,keyasint"`
	Value    []byte `cbor:"5,keyasint,omitempty"`
	ValueObj string `cbor:"6,keyasint,omitempty"`
	Done     int    `cbor:"7,keyasint,omitempty"`
	Err      []byte `cbor:"8,keyasint,omitempty"` // mp.MarshalError
	Reason   string `cbor:"9,keyasint,omitempty"` // resAttempt: why the attempt ended
	Host     string `cbor:"10,keyasint,omitempty"`
	Pid      int    `cbor:"11,keyasint,omitempty"` // the agent's
}

// cancelEnv asks the agent running a task to stop it.
type cancelEnv struct {
	ID string `cbor:"1,keyasint"`
}

// heartbeat is what an agent publishes every heartbeat interval.
type heartbeat struct {
	ID      string `cbor:"1,keyasint"`
	Host    string `cbor:"2,keyasint"`
	Pid     int    `cbor:"3,keyasint"`
	Version string `cbor:"4,keyasint"` // the binary's mp.RegistryHash
	Slots   int    `cbor:"5,keyasint"`
	Busy    int    `cbor:"6,keyasint"`
	RSS     int64  `cbor:"7,keyasint"`
	Tasks   int64  `cbor:"8,keyasint"` // tasks completed
	Stopped bool   `cbor:"9,keyasint,omitempty"`
}

var decMode, _ = cbor.DecOptions{MaxArrayElements: 1 << 20, MaxMapPairs: 1 << 10}.DecMode()

func marshal(v any) []byte {
	b, err := cbor.Marshal(v)
	if err != nil {
		panic("mpnats: encode " + fmt.Sprintf("%T", v) + ": " + err.Error()) // plain structs: cannot fail
	}
	return b
}

func unmarshal(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("mpnats: malformed %T: %v", v, err)
	}
	return nil
}

// setup makes, once per Cluster, the task stream and its consumer, and the object store.
func (c *Cluster) setup(ctx context.Context) error {
	c.setupOnce.Do(func() {
		_, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:      taskStream,
			Subjects:  []string{taskSubjects},
			Retention: jetstream.WorkQueuePolicy,
			Storage:   jetstream.FileStorage,
		})
		if err != nil {
			c.setupErr = fmt.Errorf("mpnats: the task stream: %w", err)
			return
		}
		// The consumer as it is: pools write it (headSetup); an agent creates it only when no
		// pool has yet.
		c.tasks, err = c.js.Consumer(ctx, taskStream, taskConsumer)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			c.tasks, err = c.js.CreateConsumer(ctx, taskStream, c.taskConsumerConfig())
			if errors.Is(err, jetstream.ErrConsumerExists) { // another made it meanwhile
				c.tasks, err = c.js.Consumer(ctx, taskStream, taskConsumer)
			}
		}
		if err != nil {
			c.setupErr = fmt.Errorf("mpnats: the task consumer: %w", err)
			return
		}
		c.obj, err = c.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: objectBucket})
		if errors.Is(err, jetstream.ErrBucketExists) {
			c.obj, err = c.js.ObjectStore(ctx, objectBucket)
		}
		if err != nil {
			c.setupErr = fmt.Errorf("mpnats: the object store: %w", err)
		}
	})
	return c.setupErr
}

func (c *Cluster) taskConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       taskConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.ackWait,
		MaxDeliver:    -1, // attempts are counted by the agents, against the task's MaxAttempts
		MaxAckPending: -1,
		MaxWaiting:    1 << 14,
	}
}

// headSetup is setup for a pool: it also writes the task consumer's settings (its ack wait),
// which only pools do.
func (c *Cluster) headSetup(ctx context.Context) error {
	if err := c.setup(ctx); err != nil {
		return err
	}
	c.headOnce.Do(func() {
		if _, err := c.js.CreateOrUpdateConsumer(ctx, taskStream, c.taskConsumerConfig()); err != nil {
			c.headErr = fmt.Errorf("mpnats: the task consumer: %w", err)
		}
	})
	return c.headErr
}

// inlineLimit is the largest argument or result sent in a message; bigger ones go by the Object
// Store.
func (c *Cluster) inlineLimit() int {
	return int(c.nc.MaxPayload()) - 4096
}
