package natsengine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
)

// JetStream API error codes the engine tells apart.
const (
	codeWrongLastSeq         = 10071 // Nats-Expected-Last-Subject-Sequence failed
	codeWrongLastSeqConstant = 10164 // same, without the actual sequence
	codeMsgTooBig            = 10054 // message over the stream's max
	codeStoreFailed          = 10077 // store error, e.g. message too large for a block
	codeBatchTooLarge        = 10199 // batch over the server's max
	codeBatchIncomplete      = 10176 // a message of the batch was refused or lost
)

// apiError is the error of a JetStream publish ack.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("jetstream: %s (code %d, err_code %d)", e.Description, e.Code, e.ErrCode)
}

// kind is the engine sentinel for a JetStream API error.
func (e *apiError) kind() error {
	switch {
	case e.ErrCode == codeWrongLastSeq || e.ErrCode == codeWrongLastSeqConstant:
		return engine.ErrConflict
	case e.ErrCode == codeMsgTooBig || e.ErrCode == codeBatchTooLarge:
		return engine.ErrTooLarge
	case e.ErrCode == codeStoreFailed && strings.Contains(e.Description, "too large"):
		return engine.ErrTooLarge
	}
	return engine.ErrUnavailable
}

// mapErr wraps err with the engine sentinel it stands for, keeping err in
// the chain. Errors already carrying a sentinel are returned as they are.
func mapErr(err error) error {
	if err == nil || hasSentinel(err) {
		return err
	}
	return fmt.Errorf("%w: %w", sentinel(err), err)
}

func hasSentinel(err error) bool {
	for _, s := range []error{engine.ErrNotFound, engine.ErrConflict, engine.ErrUnavailable,
		engine.ErrClosed, engine.ErrInvalid, engine.ErrTooLarge, engine.ErrNoResponders} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func sentinel(err error) error {
	var ae *apiError
	var jae *jetstream.APIError
	switch {
	case errors.As(err, &ae):
		return ae.kind()
	case errors.As(err, &jae):
		return (&apiError{Code: jae.Code, ErrCode: int(jae.ErrorCode), Description: jae.Description}).kind()
	case errors.Is(err, nats.ErrConnectionClosed):
		return engine.ErrClosed
	case errors.Is(err, nats.ErrMaxPayload):
		return engine.ErrTooLarge
	case errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrBadQueueName):
		return engine.ErrInvalid
	}
	// Timeouts, ctx ended, no responders, disconnected, reconnecting, ...
	return engine.ErrUnavailable
}
