package redis

import (
	"context"
	"fmt"
	"github.com/caddy-sse/caddy-sse/internal/caddytest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server of one test: on a loopback port of its
// own, with its own directory, stopped by PID when the test ends.
type redisServer struct {
	t       *testing.T
	port    int
	dir     string
	persist bool // append-only file on, for tests that restart it
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *caddytest.Buffer
}

// startRedis starts a redis-server, or skips the test when there is none;
// under CI=true a missing server fails it.
func startRedis(t *testing.T, persist bool) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; .ci/run installs it")
		}
		t.Skip("redis-server is not installed")
	}
	r := &redisServer{t: t, dir: t.TempDir(), persist: persist}
	for attempt := 1; ; attempt++ {
		r.port = caddytest.FreePort(t)
		err := r.start()
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(r.logs.String(), "in use") {
			t.Fatalf("starting redis-server: %v\n%s", err, r.logs)
		}
	}
	t.Cleanup(r.stop)
	return r
}

// start runs the server on r.port and r.dir and waits until it answers.
func (r *redisServer) start() error {
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir, "--save", ""}
	if r.persist {
		args = append(args, "--appendonly", "yes")
	} else {
		args = append(args, "--appendonly", "no")
	}
	r.logs = new(caddytest.Buffer)
	r.cmd = exec.Command("redis-server", args...)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(r.cmd, r.exited)
	c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("redis-server exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			return fmt.Errorf("redis-server did not answer within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL, as a crash would.
func (r *redisServer) kill() {
	r.t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		r.t.Fatal(err)
	}
	<-r.exited
}

// restart starts the server again on the same port and directory.
func (r *redisServer) restart() {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.t.Fatalf("restarting redis-server: %v\n%s", err, r.logs)
	}
}

func (r *redisServer) stop() {
	select {
	case <-r.exited:
	default:
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisServer) url() string  { return "redis://" + r.addr() }

// client is a plain client for the test's own commands.
func (r *redisServer) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	r.t.Cleanup(func() { c.Close() })
	return c
}
