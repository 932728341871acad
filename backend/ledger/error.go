// Package ledger holds the reimbursement ledger's domain: reference data,
// the reimbursement and payment aggregates, their events and the rules that
// decide them. It does no I/O.
package ledger

import (
	"errors"
	"fmt"
)

// Code classifies an Error so that a transport can map it to a status in one place.
type Code string

// Error codes. Each names a class of failure a client can act upon.
const (
	EInvalid            Code = "invalid"             // a value breaks a rule
	ENotFound           Code = "not_found"           // the named thing does not exist
	EConflict           Code = "conflict"            // the state changed, or does not allow this
	EForbidden          Code = "forbidden"           // the actor may not do this
	EUnauthenticated    Code = "unauthenticated"     // the caller's credential names no one the ledger knows
	EPreconditionFailed Code = "precondition_failed" // the caller's expected version is stale
	ETooLarge           Code = "too_large"           // what was sent is larger than the ledger takes
	EUnsupportedType    Code = "unsupported_type"    // what was sent is of a type the ledger does not take
)

// FieldError says what is wrong with one field of a command.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a domain error a client can act upon.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// CurrentVersion is set on EPreconditionFailed: the version the caller should re-read.
	CurrentVersion int64
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s (%d field errors, first %s: %s)", e.Code, e.Message, len(e.Fields), e.Fields[0].Field, e.Fields[0].Message)
}

// Errorf returns an Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of err when it is or wraps an *Error, and "" otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrVersionConflict is returned by an append that lost a race: another
// command appended to the same stream first.
var ErrVersionConflict = &Error{Code: EConflict, Message: "the reimbursement was changed by a concurrent request; read it again"}

// ErrStaleRead is returned by an append whose decision was made on another
// stream (PendingEvent.Given) that has moved on since: the command is
// decided again on that stream as it is now.
var ErrStaleRead = &Error{Code: EConflict, Message: "a rule the request was decided on changed meanwhile; send it again"}

// validation collects field errors for one command.
type validation struct {
	fields []FieldError
}

func (v *validation) add(field, format string, args ...any) {
	v.fields = append(v.fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validation) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: EInvalid, Message: "the request has invalid fields", Fields: v.fields}
}

// Wrap adds context to *errp when it is not nil, keeping the error it wraps
// for errors.Is and errors.As. Call it once per function, deferred:
//
//	defer ledger.Wrap(&err, "EventStore.Append(%s)", streamID)
func Wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), *errp)
	}
}
