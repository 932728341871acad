# Connection budget: (max_replicas 8 + 1 surge + 2 workers + 1 surge) x 7 + 2
# for the migration = 86, below the 97 of the 4 GB database.
log_level    = "info"
db_max_conns = 7

api = {
  min_replicas           = 3
  max_replicas           = 8
  target_cpu_utilization = 60
  resources = {
    requests = { cpu = "250m", memory = "256Mi" }
    limits   = { cpu = "1", memory = "512Mi" }
  }
}

# Two workers: one works, the other stands by to take over.
worker = {
  replicas = 2
  resources = {
    requests = { cpu = "200m", memory = "256Mi" }
    limits   = { cpu = "1", memory = "512Mi" }
  }
}

load_balancer_size_unit = 2
