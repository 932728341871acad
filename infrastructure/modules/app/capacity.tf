# Node capacity: the ledger's requests at full scale (every API replica the
# autoscaler may add, every worker, one surge pod of each, the migration and a
# rebuild) must fit on max_nodes - 1 nodes of the workload pool, so that one
# node can be drained, upgraded or lost at the worst moment. The pool is sized
# from this, not the other way round; `terraform output capacity` shows it.

locals {
  cpu_millis = {
    for component, quantity in {
      api     = var.api.resources.requests.cpu
      worker  = var.worker.resources.requests.cpu
      migrate = local.migrate_resources.requests.cpu
      rebuild = var.rebuild.resources.requests.cpu
    } : component => endswith(quantity, "m") ? tonumber(trimsuffix(quantity, "m")) : tonumber(quantity) * 1000
  }
  memory_mib = {
    for component, quantity in {
      api     = var.api.resources.requests.memory
      worker  = var.worker.resources.requests.memory
      migrate = local.migrate_resources.requests.memory
      rebuild = var.rebuild.resources.requests.memory
    } : component => endswith(quantity, "Gi") ? tonumber(trimsuffix(quantity, "Gi")) * 1024 : tonumber(trimsuffix(quantity, "Mi"))
  }

  full_scale_pods = {
    api     = local.workloads.api.full_scale_pods
    worker  = local.workloads.worker.full_scale_pods
    migrate = 1
    rebuild = 1
  }

  capacity_requested = {
    cpu_millis = sum([for component, pods in local.full_scale_pods : pods * local.cpu_millis[component]])
    memory_mib = sum([for component, pods in local.full_scale_pods : pods * local.memory_mib[component]])
  }
  capacity_headroom_nodes = {
    cpu_millis = (var.node_pool.max_nodes - 1) * var.node_pool.node_cpu_millis
    memory_mib = (var.node_pool.max_nodes - 1) * var.node_pool.node_memory_mib
  }

  capacity = {
    requested      = local.capacity_requested
    headroom_nodes = local.capacity_headroom_nodes
    fits = (
      local.capacity_requested.cpu_millis <= local.capacity_headroom_nodes.cpu_millis &&
      local.capacity_requested.memory_mib <= local.capacity_headroom_nodes.memory_mib
    )
    # Share of the pool's largest size the ledger requests at full scale.
    cpu_percent_of_max    = floor(100 * local.capacity_requested.cpu_millis / (var.node_pool.max_nodes * var.node_pool.node_cpu_millis))
    memory_percent_of_max = floor(100 * local.capacity_requested.memory_mib / (var.node_pool.max_nodes * var.node_pool.node_memory_mib))
  }
}
