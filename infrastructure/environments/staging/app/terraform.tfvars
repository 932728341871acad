# Connection budget: (max_replicas 4 + 1 surge + 2 workers + 1 surge) x 5 + 2
# for the migration = 42, below the 47 of the 2 GB database.
log_level    = "info"
db_max_conns = 5

api = {
  min_replicas = 2
  max_replicas = 4
  resources = {
    requests = { cpu = "200m", memory = "256Mi" }
    limits   = { cpu = "1", memory = "512Mi" }
  }
}

worker = {
  replicas = 2
  resources = {
    requests = { cpu = "100m", memory = "256Mi" }
    limits   = { cpu = "1", memory = "512Mi" }
  }
}

load_balancer_size_unit = 1
