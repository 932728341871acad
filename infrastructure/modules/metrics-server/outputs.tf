output "image" {
  description = "metrics-server image, pinned by digest."
  value       = var.image
}

output "api_service" {
  description = "Name of the APIService that serves the resource metrics API."
  value       = kubernetes_api_service_v1.this.metadata[0].name
}
