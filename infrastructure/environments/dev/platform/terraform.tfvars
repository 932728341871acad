# PLACEHOLDERS (documentation ranges): replace with the team's VPN egress and
# the CI runners' addresses before the first apply. Whoever runs the app root
# must be in this list: it talks to the Kubernetes API.
control_plane_allowed_addresses = ["192.0.2.10/32", "198.51.100.0/28"]
