package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Credential is what a verified token says: who, by which issuer, in which role.
type Credential struct {
	Subject string
	Issuer  string
	Role    string
}

// Identify returns the principal a verified credential names. A member's
// or administrator's subject must be the id of one the directory holds
// (EUnauthenticated otherwise); an administrator's bank is looked up, never
// taken from the credential. A role the ledger does not know grants
// nothing (EForbidden).
func (a *App) Identify(ctx context.Context, cred Credential) (Principal, error) {
	p := Principal{Role: Role(cred.Role), Subject: cred.Subject, Issuer: cred.Issuer}
	switch p.Role {
	case RoleMember, RoleAdministrator:
		id, err := uuid.Parse(cred.Subject)
		if err != nil {
			return Principal{}, ledger.Errorf(ledger.EUnauthenticated, "the token's subject is not a %s id", p.Role)
		}
		p.ID = id
		if p.Role == RoleMember {
			_, err = a.stores.Directory.Member(ctx, id)
		} else {
			var admin ledger.Administrator
			admin, err = a.stores.Directory.Administrator(ctx, id)
			p.BankID = admin.BankID
		}
		if ledger.ErrorCode(err) == ledger.ENotFound {
			return Principal{}, ledger.Errorf(ledger.EUnauthenticated, "the token's subject is no %s of this ledger", p.Role)
		}
		return p, err
	case RoleAuditor, RoleOperator:
		return p, nil
	}
	return Principal{}, ledger.Errorf(ledger.EForbidden, "the token grants no role this ledger knows (%q)", cred.Role)
}
