// The addon: netlink.c (the socket, and the module), watch.c (readiness), errors.c (what both use).
#ifndef CTPLUG_NATIVE_H
#define CTPLUG_NATIVE_H
#define NAPI_VERSION 8
#include <stdint.h>
#include <node_api.h>

#define CHECK(env, call)                                                     \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error((env), NULL, "ctplug native: N-API call failed: " #call); \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

/** A JS Error for errno `err` with `code` (its name), `errno` and `syscall` set. */
napi_value make_errno_error(napi_env env, int err, const char *syscall, const char *detail);
/** Throws make_errno_error(...); returns NULL for `return throw_errno(...)`. */
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *detail);
int arg_int(napi_env env, napi_value v, int32_t *out);
/** Adds watch / watchStart / watchStop / watchClose to the module's exports. */
void define_watch(napi_env env, napi_value exports);

#endif
