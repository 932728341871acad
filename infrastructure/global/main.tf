# Resources shared by every environment. The container registry belongs here:
# an account has one registry on the cheaper tiers, and dev, staging and prod
# deploy the same image digests from it.

resource "digitalocean_container_registry" "this" {
  name                   = var.registry_name
  subscription_tier_slug = var.registry_tier
  region                 = var.region
}
