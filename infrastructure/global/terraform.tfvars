registry_name = "reimbursement-ledger"
registry_tier = "basic"
region        = "fra1"
