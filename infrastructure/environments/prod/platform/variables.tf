variable "control_plane_allowed_addresses" {
  description = "Addresses allowed to reach the cluster's Kubernetes API (operators' VPN egress, CI runners); modules/platform validates them. Set in terraform.tfvars."
  type        = list(string)
}
