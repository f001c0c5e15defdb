{
  "targets": [{
    "target_name": "ctplug_netlink",
    "sources": ["netlink.c", "watch.c", "errors.c"],
    "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"]
  }]
}
