package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Schema versions. Stored events are never rewritten: the audit hash covers
// their bytes as they were written. When a type's fields change, its
// events are written with a "schema_version" (its first field), and an
// upcaster per older version turns the stored data into the next
// version's, so that DecodeEvent, and through it every fold, projection and
// saga, sees the newest shape only. Data without "schema_version" is
// version 1.
//
// To change a type's shape: add the upcaster from the current newest
// version to the type's upcasters in eventKinds (event.go), give the type a
// MarshalJSON that calls withSchema, and document the version in
// docs/events.md.

// upcaster turns one version's data, as JSON fields, into the next version's.
type upcaster func(fields map[string]json.RawMessage)

// setDefault returns an upcaster that sets a field the older version lacks.
func setDefault(field, value string) upcaster {
	return func(fields map[string]json.RawMessage) {
		if _, ok := fields[field]; !ok {
			fields[field] = json.RawMessage(value)
		}
	}
}

// SchemaVersion returns the version of an event type's shape that this code
// writes.
func SchemaVersion(eventType string) int {
	k, ok := kindOf(eventType)
	if !ok {
		return 1
	}
	return len(k.upcasters) + 1
}

// schemaField is how an event's data starts when it names its version.
const schemaField = `{"schema_version":`

// withSchema encodes v, the fields of an event of the given type, with the
// type's schema version as its first field.
func withSchema(eventType string, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(data) < 2 || data[0] != '{' {
		return nil, fmt.Errorf("%s does not encode as a JSON object", eventType)
	}
	out := make([]byte, 0, len(data)+len(schemaField)+4)
	out = append(out, schemaField...)
	out = strconv.AppendInt(out, int64(SchemaVersion(eventType)), 10)
	if len(data) > 2 {
		out = append(out, ',')
	}
	return append(out, data[1:]...), nil
}

// MarshalJSON writes the event with its schema version.
func (e ReimbursementSubmitted) MarshalJSON() ([]byte, error) {
	type fields ReimbursementSubmitted
	return withSchema(TypeReimbursementSubmitted, fields(e))
}

// MarshalJSON writes the event with its schema version.
func (e ReimbursementApproved) MarshalJSON() ([]byte, error) {
	type fields ReimbursementApproved
	return withSchema(TypeReimbursementApproved, fields(e))
}

// MarshalJSON writes the event with its schema version.
func (e PaymentRequested) MarshalJSON() ([]byte, error) {
	type fields PaymentRequested
	return withSchema(TypePaymentRequested, fields(e))
}

// MarshalJSON writes the event with its schema version.
func (e PaymentSettled) MarshalJSON() ([]byte, error) {
	type fields PaymentSettled
	return withSchema(TypePaymentSettled, fields(e))
}

// MarshalJSON writes the event with its schema version.
func (e PaymentFailed) MarshalJSON() ([]byte, error) {
	type fields PaymentFailed
	return withSchema(TypePaymentFailed, fields(e))
}

// MarshalJSON writes the event with its schema version.
func (e MemberNotified) MarshalJSON() ([]byte, error) {
	type fields MemberNotified
	return withSchema(TypeMemberNotified, fields(e))
}

// upcast returns data in the newest shape of its type: as it is when it is
// already (the common case, recognised without parsing), otherwise through
// the upcasters from its stored version on. A version newer than this code
// knows is an error: the event must not be read with fields missing.
func upcast(k *eventKind, data []byte) ([]byte, error) {
	ups := k.upcasters
	current := len(ups) + 1
	if current == 1 && !bytes.HasPrefix(data, []byte(schemaField)) {
		return data, nil
	}
	prefix := strconv.AppendInt([]byte(schemaField), int64(current), 10)
	if rest, ok := bytes.CutPrefix(data, prefix); ok && len(rest) > 0 && (rest[0] == ',' || rest[0] == '}') {
		return data, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	version := 1
	if raw, ok := fields["schema_version"]; ok {
		if err := json.Unmarshal(raw, &version); err != nil || version < 1 {
			return nil, fmt.Errorf("schema_version %s is not a version", raw)
		}
	}
	if version > current {
		return nil, fmt.Errorf("schema version %d is newer than this ledger reads (%d)", version, current)
	}
	if version == current {
		return data, nil
	}
	for ; version < current; version++ {
		ups[version-1](fields)
	}
	fields["schema_version"] = json.RawMessage(strconv.Itoa(current))
	return json.Marshal(fields)
}

// MarshalJSON writes the event with its schema version.
func (e ApprovalPolicySet) MarshalJSON() ([]byte, error) {
	type fields ApprovalPolicySet
	return withSchema(TypeApprovalPolicySet, fields(e))
}
