output "outputs" {
  description = "The root's outputs."
  value       = data.terraform_remote_state.this.outputs
}
