package httpapi_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The API description enumerates what the domain's tables list, in their
// order: a status, payment status, event type or webhook type added to the
// domain and not described (or described and gone) fails here.
func TestSpecEnumeratesTheDomainsLists(t *testing.T) {
	doc, _ := loadSpec(t)
	enum := func(schema string) []string {
		t.Helper()
		ref := doc.Components.Schemas[schema]
		if ref == nil || ref.Value == nil {
			t.Fatalf("docs/openapi.yaml has no schema %s", schema)
		}
		var values []string
		for _, v := range ref.Value.Enum {
			values = append(values, v.(string))
		}
		return values
	}
	strs := func(values any) []string {
		var out []string
		switch values := values.(type) {
		case []ledger.Status:
			for _, v := range values {
				out = append(out, string(v))
			}
		case []ledger.PaymentStatus:
			for _, v := range values {
				out = append(out, string(v))
			}
		case []string:
			out = values
		}
		return out
	}
	for _, tt := range []struct {
		schema string
		domain []string
	}{
		{"ReimbursementStatus", strs(ledger.Statuses)},
		{"PaymentStatus", strs(ledger.PaymentStatuses)},
		{"EventType", ledger.EventTypes},
		{"WebhookEventType", ledger.WebhookTypes()},
		{"WebhookEventType", app.WebhookEventTypes},
	} {
		if got := enum(tt.schema); !slices.Equal(got, tt.domain) {
			t.Errorf("docs/openapi.yaml's %s is %v; the domain lists %v", tt.schema, got, tt.domain)
		}
	}

	// The feed describes each event type's data, titled with its type.
	var titled []string
	for _, s := range doc.Components.Schemas["Event"].Value.Properties["data"].Value.OneOf {
		titled = append(titled, s.Value.Title)
	}
	if !slices.Equal(titled, ledger.EventTypes) {
		t.Errorf("docs/openapi.yaml's Event data describes %v; the event types are %v", titled, ledger.EventTypes)
	}
}

// The prose that names the lists names all of them: the README's filters
// (every status and payment status, in the domain's order) and
// docs/webhooks.md's types (every webhook type, written as it abbreviates
// them after the first).
func TestDocsNameTheDomainsLists(t *testing.T) {
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile("../../" + name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(string(b)), " ")
	}
	readme := read("README.md")
	var statuses, payments []string
	for _, s := range ledger.Statuses {
		statuses = append(statuses, string(s))
	}
	for _, s := range ledger.PaymentStatuses {
		payments = append(payments, string(s))
	}
	for _, want := range []string{
		"`status` (" + strings.Join(statuses, ", ") + ")",
		"`payment_status` (" + strings.Join(payments, ", ") + ")",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md's filters do not read %q", want)
		}
	}
	webhooks := read("docs/webhooks.md")
	types := ledger.WebhookTypes()
	named := "The types are `" + types[0] + "`"
	for i, typ := range types[1:] {
		sep := ", "
		if i == len(types)-2 {
			sep = " and "
		}
		named += sep + "`." + strings.TrimPrefix(typ, "reimbursement.") + "`"
	}
	if !strings.Contains(webhooks, named+".") {
		t.Errorf("docs/webhooks.md does not read %q", named+".")
	}
}
