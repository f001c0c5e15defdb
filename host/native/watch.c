// ctplug's native code: readiness, so that waiting for the kernel never parks a thread.
// watch(fd, callback) -> watcher; watchStart(watcher) arms it once: when fd becomes readable (or
// reports an error, e.g. ENOBUFS after an overrun, which the next recv returns) the poll stops and
// callback(status) runs on this thread's event loop (uv_poll, epoll underneath), and the receive
// that follows (recv with dontwait) does not block. watchStop
// disarms it; watchClose releases it, after which the caller may close the fd. A worker thread that
// ends with a watcher still open gets it closed by the async cleanup hook, before its loop is torn down.
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <uv.h>

#include "native.h"

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  napi_async_cleanup_hook_handle hook;
  int closing;
  int torn_down;
  int holders; // the open handle and the JS external: freed when both are gone
} watcher;

static void watcher_release(watcher *w) {
  if (--w->holders == 0) free(w);
}

static void watcher_closed(uv_handle_t *h) {
  watcher *w = h->data;
  if (!w->torn_down) {
    napi_delete_reference(w->env, w->callback);
    napi_async_destroy(w->env, w->context);
  }
  napi_remove_async_cleanup_hook(w->hook);
  watcher_release(w);
}

static void watcher_finalize(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  watcher_release(data);
}

static void watcher_close(watcher *w) {
  if (w->closing) return;
  w->closing = 1;
  uv_close((uv_handle_t *)&w->poll, watcher_closed); // also stops the poll: the fd may be closed now
}

static void watcher_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  (void)hook;
  watcher *w = arg;
  w->torn_down = 1;
  if (!w->closing) watcher_close(w);
}

static void watcher_ready(uv_poll_t *h, int status, int events) {
  (void)events;
  watcher *w = h->data;
  uv_poll_stop(h);
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  napi_get_reference_value(env, w->callback, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, status, &arg);
  // make_callback (not call_function): promise reactions queued by the callback run afterwards.
  if (napi_make_callback(env, w->context, recv, cb, 1, &arg, &result) != napi_ok) {
    bool pending = false;
    napi_value err;
    // A throw in the callback is the process's uncaught exception, not a silently pending one.
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &err) == napi_ok) {
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

/** The open watcher given as the only argument, or NULL. */
static watcher *watcher_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || !p || ((watcher *)p)->closing) return NULL;
  return p;
}

static napi_value nl_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  napi_valuetype t = napi_undefined;
  if (argc > 1) napi_typeof(env, argv[1], &t);
  if (argc < 2 || !arg_int(env, argv[0], &fd) || t != napi_function) {
    napi_throw_type_error(env, NULL, "watch(fd, callback)");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  watcher *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, ENOMEM, "watch", NULL);
  // uv_poll_init makes the fd non-blocking; the socket's synchronous request/answer exchanges need
  // it blocking, and every receive after readiness passes MSG_DONTWAIT anyway: keep its mode.
  int flags = fcntl(fd, F_GETFL);
  int rc = flags < 0 ? -errno : uv_poll_init(loop, &w->poll, fd);
  if (rc == 0 && fcntl(fd, F_SETFL, flags) < 0) rc = -errno;
  if (rc < 0) {
    free(w);
    return throw_errno(env, -rc, "watch", NULL);
  }
  w->poll.data = w;
  w->env = env;
  w->holders = 2;
  napi_value name, out;
  CHECK(env, napi_create_reference(env, argv[1], 1, &w->callback));
  CHECK(env, napi_create_string_utf8(env, "ctplug.readable", NAPI_AUTO_LENGTH, &name));
  CHECK(env, napi_async_init(env, NULL, name, &w->context));
  CHECK(env, napi_add_async_cleanup_hook(env, watcher_teardown, w, &w->hook));
  CHECK(env, napi_create_external(env, w, watcher_finalize, NULL, &out));
  return out;
}

static napi_value nl_watch_start(napi_env env, napi_callback_info info) {
  watcher *w = watcher_arg(env, info);
  if (!w) {
    napi_throw_type_error(env, NULL, "watchStart(watcher): not an open watcher");
    return NULL;
  }
  int rc = uv_poll_start(&w->poll, UV_READABLE, watcher_ready);
  if (rc < 0) return throw_errno(env, -rc, "watch", NULL);
  return NULL;
}

static napi_value nl_watch_stop(napi_env env, napi_callback_info info) {
  watcher *w = watcher_arg(env, info);
  if (w) uv_poll_stop(&w->poll);
  return NULL;
}

static napi_value nl_watch_close(napi_env env, napi_callback_info info) {
  watcher *w = watcher_arg(env, info);
  if (w) watcher_close(w);
  return NULL;
}

void define_watch(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
      {"watch", NULL, nl_watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchStart", NULL, nl_watch_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchStop", NULL, nl_watch_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchClose", NULL, nl_watch_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}
