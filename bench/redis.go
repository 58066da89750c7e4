package main

import (
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// newPool is one app instance's connection pool to Redis, counting into c:
// every command (MULTI and EXEC not counted), the SETs among them, and the
// bytes of the values they write.
func newPool(addr string, c *engineCounter) *redis.Pool {
	return &redis.Pool{
		MaxIdle:     256,
		IdleTimeout: 4 * time.Minute,
		Dial: func() (redis.Conn, error) {
			conn, err := redis.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: conn, c: c}, nil
		},
	}
}

type countingConn struct {
	redis.Conn
	c *engineCounter
}

func (cc countingConn) Do(cmd string, args ...any) (any, error) {
	cc.count(cmd, args)
	return cc.Conn.Do(cmd, args...)
}

func (cc countingConn) Send(cmd string, args ...any) error {
	cc.count(cmd, args)
	return cc.Conn.Send(cmd, args...)
}

func (cc countingConn) count(cmd string, args []any) {
	switch strings.ToUpper(cmd) {
	case "", "MULTI", "EXEC":
		return
	case "SET", "SETEX", "PSETEX":
		cc.c.writes.Add(1)
		for _, a := range args {
			if b, ok := a.([]byte); ok {
				cc.c.bytes.Add(int64(len(b)))
			}
		}
	}
	cc.c.ops.Add(1)
}
