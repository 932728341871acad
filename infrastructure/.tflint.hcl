# tflint configuration for every root and module under infrastructure/.
# Only the terraform ruleset bundled with tflint is used, so linting works
# offline and needs no `tflint --init`.

config {
  # Follow module calls with local sources (../../../modules/...) so values
  # passed from the roots are checked too; registry modules are not used.
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

# Beyond the recommended preset: what reviewers expect of every module.
rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_naming_convention" {
  enabled = true
}

rule "terraform_standard_module_structure" {
  enabled = true
}

rule "terraform_unused_required_providers" {
  enabled = true
}

rule "terraform_comment_syntax" {
  enabled = true
}
