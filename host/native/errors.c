// ctplug's native code: the errno errors and argument helpers both halves use (netlink.c, watch.c).
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "native.h"

napi_value make_errno_error(napi_env env, int err, const char *syscall, const char *detail) {
  const char *name = strerrorname_np(err);
  char text[512];
  snprintf(text, sizeof text, "%s %s%s%s (%s)", syscall, strerror(err), detail ? ": " : "",
           detail ? detail : "", name ? name : "errno");
  napi_value msg, error, code, num, sys;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_int32(env, err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "code", code);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sys);
  return error;
}

napi_value throw_errno(napi_env env, int err, const char *syscall, const char *detail) {
  napi_throw(env, make_errno_error(env, err, syscall, detail));
  return NULL;
}

int arg_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}
