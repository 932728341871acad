# Connection budget: (max_replicas 2 + 1 surge + 1 worker + 1 surge) x 4 + 2
# for the migration = 22, the limit of the 1 GB database.
log_level    = "debug"
db_max_conns = 4

api = {
  min_replicas = 1
  max_replicas = 2
  resources = {
    requests = { cpu = "100m", memory = "128Mi" }
    limits   = { cpu = "500m", memory = "256Mi" }
  }
}

worker = {
  replicas = 1
  resources = {
    requests = { cpu = "50m", memory = "128Mi" }
    limits   = { cpu = "500m", memory = "256Mi" }
  }
}

load_balancer_size_unit = 1
