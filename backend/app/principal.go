package app

import (
	"slices"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Role is what a principal may act as.
type Role string

// Roles.
const (
	RoleMember        Role = "member"
	RoleAdministrator Role = "administrator"
	RoleAuditor       Role = "auditor"
	RoleOperator      Role = "operator"
)

// Principal is who acts in a use case. The edge establishes it (the API
// from a verified token through Identify, the command line as the operator
// or auditor who holds the database's credentials); the use cases decide
// what it may do and record it as the actor of the events it causes.
type Principal struct {
	Role Role
	// ID is the member's or administrator's id, for those roles.
	ID uuid.UUID
	// BankID is an administrator's bank, looked up in the directory.
	BankID uuid.UUID
	// Subject and Issuer name the verified credential the principal came
	// from, when there is one.
	Subject string
	Issuer  string
}

// Member is the principal of a member.
func Member(id uuid.UUID) Principal { return Principal{Role: RoleMember, ID: id} }

// Administrator is the principal of an administrator of bank.
func Administrator(id, bank uuid.UUID) Principal {
	return Principal{Role: RoleAdministrator, ID: id, BankID: bank}
}

// Actor is how events record the principal: "member:<id>",
// "administrator:<id>", or the role and the credential's subject for roles
// without an id ("auditor:<subject>").
func (p Principal) Actor() string {
	if p.ID != uuid.Nil {
		return string(p.Role) + ":" + p.ID.String()
	}
	return string(p.Role) + ":" + p.Subject
}

// metadata returns meta with p recorded as its actor.
func (p Principal) metadata(meta ledger.Metadata) ledger.Metadata {
	meta.Actor, meta.ActorIssuer = p.Actor(), p.Issuer
	return meta
}

// is reports whether p acts in one of the roles.
func (p Principal) is(roles ...Role) bool { return slices.Contains(roles, p.Role) }

// must returns EForbidden unless p acts in one of the roles.
func (p Principal) must(roles ...Role) error {
	if p.is(roles...) {
		return nil
	}
	return ledger.Errorf(ledger.EForbidden, "the %s role may not do this", p.Role)
}

// sees reports whether p may see a reimbursement: its member, an
// administrator of its bank, or an auditor.
func (p Principal) sees(r *ledger.Reimbursement) bool {
	switch p.Role {
	case RoleMember:
		return r.MemberID == p.ID
	case RoleAdministrator:
		return r.BankID == p.BankID
	case RoleAuditor:
		return true
	}
	return false
}
