package app

import (
	"github.com/google/uuid"
)

// Role is what a principal may act as.
type Role string

// Roles.
const (
	// RoleUnverified is a caller whose identity the ledger has not verified:
	// the API names the acting administrator in the body and takes the
	// submitting member from the account.
	RoleUnverified    Role = "unverified"
	RoleMember        Role = "member"
	RoleAdministrator Role = "administrator"
	RoleAuditor       Role = "auditor"
	RoleOperator      Role = "operator"
)

// Principal is who acts in a use case. The edge (HTTP, the command line)
// establishes it; the use cases decide what it may do and record it as the
// actor of the events it causes.
type Principal struct {
	Role Role
	// ID is the member's or administrator's id, for those roles.
	ID uuid.UUID
	// Subject and Issuer name the verified credential the principal came
	// from, when there is one.
	Subject string
	Issuer  string
}

// Member is the principal of a member.
func Member(id uuid.UUID) Principal { return Principal{Role: RoleMember, ID: id} }

// Administrator is the principal of a bank's administrator.
func Administrator(id uuid.UUID) Principal { return Principal{Role: RoleAdministrator, ID: id} }

// Unverified is the principal of a caller who named no verified identity.
func Unverified() Principal { return Principal{Role: RoleUnverified} }

// Actor is how events record the principal: "member:<id>",
// "administrator:<id>", or the role alone for roles without an id.
func (p Principal) Actor() string {
	if p.ID != uuid.Nil {
		return string(p.Role) + ":" + p.ID.String()
	}
	return string(p.Role)
}
