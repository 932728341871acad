output "registry_name" {
  description = "Name of the container registry."
  value       = digitalocean_container_registry.this.name
}

output "registry_endpoint" {
  description = "Registry endpoint to tag images with, e.g. registry.digitalocean.com/<name>."
  value       = digitalocean_container_registry.this.endpoint
}

output "image_repository" {
  description = "Repository of the ledger image in the registry."
  value       = "${digitalocean_container_registry.this.endpoint}/ledger"
}
