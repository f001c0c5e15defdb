// ctplug's native code: a netlink socket, optionally opened inside another network
// namespace, with send / recv / setsockopt / getsockopt / close (readiness: watch.c).
// No protocol logic lives here; every request is built and every reply is parsed in TypeScript.
// Errors are thrown as JS Errors carrying `code` (the errno name, e.g. "EPERM"), `errno` and `syscall`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/netlink.h>

#include "native.h"

// Bytes of a Uint8Array / Buffer argument (the caller's memory, which may be a view into
// a Wasm instance's memory: receiving straight into it saves a copy per batch).
static int arg_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, len, &p, &ab, &off) != napi_ok || type != napi_uint8_array)
    return 0;
  *data = p;
  return 1;
}

// open(protocol, netnsPath?) -> fd. The namespace switch is per thread: enter the target,
// create the socket, return to the original namespace. A socket stays in the namespace it
// was created in. If returning fails the thread would keep running in the wrong namespace,
// which must never happen silently, so the process aborts.
static napi_value nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t protocol;
  if (argc < 1 || !arg_int(env, argv[0], &protocol)) {
    napi_throw_type_error(env, NULL, "open(protocol, netnsPath?)");
    return NULL;
  }
  char path[4096] = {0};
  napi_valuetype t = napi_undefined;
  if (argc > 1) napi_typeof(env, argv[1], &t);
  int want_ns = t == napi_string;
  if (want_ns) {
    size_t n;
    CHECK(env, napi_get_value_string_utf8(env, argv[1], path, sizeof path, &n));
    if (n >= sizeof path - 1) return throw_errno(env, ENAMETOOLONG, "open", path);
  }

  int target = -1, home = -1;
  if (want_ns) {
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) return throw_errno(env, errno, "open", path);
    home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) {
      int e = errno;
      close(target);
      return throw_errno(env, e, "open", "/proc/thread-self/ns/net");
    }
    if (setns(target, CLONE_NEWNET) < 0) {
      int e = errno;
      close(target);
      close(home);
      return throw_errno(env, e, "setns", path);
    }
  }

  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  int sock_err = errno;
  if (fd >= 0) {
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
      sock_err = errno;
      close(fd);
      fd = -1;
    }
  }

  if (want_ns) {
    if (setns(home, CLONE_NEWNET) < 0) {
      fprintf(stderr, "ctplug native: cannot return to the original network namespace: %s\n", strerror(errno));
      abort();
    }
    close(home);
    close(target);
  }
  if (fd < 0) return throw_errno(env, sock_err, "socket", want_ns ? path : NULL);
  napi_value out;
  CHECK(env, napi_create_int32(env, fd, &out));
  return out;
}

// send(fd, bytes) -> bytes sent. One sendto to the kernel; many messages per call.
static napi_value nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint8_t *data;
  size_t len;
  if (argc < 2 || !arg_int(env, argv[0], &fd) || !arg_bytes(env, argv[1], &data, &len)) {
    napi_throw_type_error(env, NULL, "send(fd, Uint8Array)");
    return NULL;
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t n;
  do n = sendto(fd, data, len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "send", NULL);
  napi_value out;
  CHECK(env, napi_create_int64(env, n, &out));
  return out;
}

// One receive into the caller's buffer. A datagram longer than the buffer is an error
// (EMSGSIZE), never a silently cut message.
static ssize_t recv_into(int fd, uint8_t *data, size_t len, int flags, int *err) {
  ssize_t n;
  do n = recv(fd, data, len, flags | MSG_TRUNC);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    *err = errno;
    return -1;
  }
  if ((size_t)n > len) {
    *err = EMSGSIZE;
    return -1;
  }
  return n;
}

// recv(fd, bytes, dontwait?) -> length. Blocking for synchronous request/answer exchanges (the
// kernel answers at once); dontwait after a watcher said readable. With dontwait and nothing
// queued, returns -1.
static napi_value nl_recv(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint8_t *data;
  size_t len;
  bool dontwait = false;
  if (argc < 2 || !arg_int(env, argv[0], &fd) || !arg_bytes(env, argv[1], &data, &len)) {
    napi_throw_type_error(env, NULL, "recv(fd, Uint8Array, dontwait?)");
    return NULL;
  }
  if (argc > 2) napi_get_value_bool(env, argv[2], &dontwait);
  int err = 0;
  ssize_t n = recv_into(fd, data, len, dontwait ? MSG_DONTWAIT : 0, &err);
  if (n < 0 && !(dontwait && (err == EAGAIN || err == EWOULDBLOCK))) return throw_errno(env, err, "recv", NULL);
  napi_value out;
  CHECK(env, napi_create_int64(env, n, &out));
  return out;
}

// setsockopt(fd, level, name, value): value is an int, or raw bytes for struct options
// (e.g. SO_RCVTIMEO's timeval). Pointer-carrying structs cannot be expressed, by design.
static napi_value nl_setsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, level, name, ival;
  uint8_t *data;
  size_t len;
  if (argc < 4 || !arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &level) || !arg_int(env, argv[2], &name)) {
    napi_throw_type_error(env, NULL, "setsockopt(fd, level, name, int | Uint8Array)");
    return NULL;
  }
  int rc;
  if (arg_int(env, argv[3], &ival)) {
    int v = ival;
    rc = setsockopt(fd, level, name, &v, sizeof v);
  } else if (arg_bytes(env, argv[3], &data, &len)) {
    rc = setsockopt(fd, level, name, data, len);
  } else {
    napi_throw_type_error(env, NULL, "setsockopt(fd, level, name, int | Uint8Array)");
    return NULL;
  }
  if (rc < 0) return throw_errno(env, errno, "setsockopt", NULL);
  return NULL;
}

// attachFilter(fd, program): SO_ATTACH_FILTER with a classic BPF program given as raw
// struct sock_filter records (8 bytes each). The one pointer-carrying option, built here so
// no pointer ever comes from JS. The kernel verifies the program.
static napi_value nl_attach_filter(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint8_t *data;
  size_t len;
  if (argc < 2 || !arg_int(env, argv[0], &fd) || !arg_bytes(env, argv[1], &data, &len) || len == 0 ||
      len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    napi_throw_type_error(env, NULL, "attachFilter(fd, Uint8Array of 8-byte sock_filter records, at most 4096)");
    return NULL;
  }
  struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = (struct sock_filter *)data};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) return throw_errno(env, errno, "setsockopt", "SO_ATTACH_FILTER");
  return NULL;
}

// getsockopt(fd, level, name) -> int: to report the receive buffer the kernel really gave.
// getsockopt(fd, level, name, len) -> Buffer of the bytes the kernel wrote (at most len, <= 4096):
// structured options such as SO_PEERCRED (the daemon's peer credentials) or SO_PEERGROUPS.
static napi_value nl_getsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, level, name, len = -1;
  if (argc < 3 || !arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &level) || !arg_int(env, argv[2], &name) ||
      (argc > 3 && (!arg_int(env, argv[3], &len) || len < 0 || len > 4096))) {
    napi_throw_type_error(env, NULL, "getsockopt(fd, level, name[, len <= 4096])");
    return NULL;
  }
  napi_value out;
  if (len < 0) {
    int v = 0;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) < 0) return throw_errno(env, errno, "getsockopt", NULL);
    CHECK(env, napi_create_int32(env, v, &out));
    return out;
  }
  uint8_t buf[4096];
  socklen_t l = (socklen_t)len;
  if (getsockopt(fd, level, name, buf, &l) < 0) return throw_errno(env, errno, "getsockopt", NULL);
  void *data;
  CHECK(env, napi_create_buffer_copy(env, l, buf, &data, &out));
  return out;
}

static napi_value nl_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !arg_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "close(fd)");
    return NULL;
  }
  if (close(fd) < 0) return throw_errno(env, errno, "close", NULL);
  return NULL;
}

// Context-aware (NAPI_MODULE_INIT) so every worker thread can load it.
NAPI_MODULE_INIT() {
  const napi_property_descriptor fns[] = {
      {"open", NULL, nl_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, nl_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recv", NULL, nl_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setsockopt", NULL, nl_setsockopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockopt", NULL, nl_getsockopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attachFilter", NULL, nl_attach_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, nl_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  define_watch(env, exports);
  return exports;
}
