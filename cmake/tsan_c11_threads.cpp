// ThreadSanitizer builds only (TICKETD_TSAN): Debian's librdkafka starts its
// threads and locks with C11 <threads.h> (thrd_create, mtx_*, cnd_*), which
// GCC 12's libtsan does not intercept: its first thread that allocates crashes
// inside the TSan allocator. Linked whole into every tsan executable, these
// definitions take precedence over glibc's and route the calls to pthread_*,
// which libtsan does see. glibc's C11 types are its pthread types (checked
// below), so the casts are exact.
#include <threads.h>

#include <pthread.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

namespace {
struct tramp { thrd_start_t fn; void* arg; };
void* run(void* p) {
  tramp t = *static_cast<tramp*>(p);
  free(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(t.fn(t.arg)));
}
int map(int e) { return e == 0 ? thrd_success : e == ENOMEM ? thrd_nomem : e == EBUSY ? thrd_busy : e == ETIMEDOUT ? thrd_timedout : thrd_error; }
}  // namespace

extern "C" {
int thrd_create(thrd_t* thr, thrd_start_t fn, void* arg) {
  auto* t = static_cast<tramp*>(malloc(sizeof(tramp)));
  if (!t) return thrd_nomem;
  t->fn = fn; t->arg = arg;
  int e = pthread_create((pthread_t*)thr, NULL, run, t);
  if (e) free(t);
  return map(e);
}
int thrd_join(thrd_t thr, int* res) {
  void* r; int e = pthread_join((pthread_t)thr, &r);
  if (!e && res) *res = static_cast<int>(reinterpret_cast<intptr_t>(r));
  return map(e);
}
int thrd_detach(thrd_t thr) { return map(pthread_detach((pthread_t)thr)); }
[[noreturn]] void thrd_exit(int res) { pthread_exit(reinterpret_cast<void*>(static_cast<intptr_t>(res))); }
int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t a; pthread_mutexattr_init(&a);
  if (type & mtx_recursive) pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  int e = pthread_mutex_init((pthread_mutex_t*)m, &a);
  pthread_mutexattr_destroy(&a);
  return map(e);
}
int mtx_lock(mtx_t* m) { return map(pthread_mutex_lock((pthread_mutex_t*)m)); }
int mtx_trylock(mtx_t* m) { return map(pthread_mutex_trylock((pthread_mutex_t*)m)); }
int mtx_timedlock(mtx_t* m, const struct timespec* ts) { return map(pthread_mutex_timedlock((pthread_mutex_t*)m, ts)); }
int mtx_unlock(mtx_t* m) { return map(pthread_mutex_unlock((pthread_mutex_t*)m)); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy((pthread_mutex_t*)m); }
int cnd_init(cnd_t* c) { return map(pthread_cond_init((pthread_cond_t*)c, NULL)); }
int cnd_signal(cnd_t* c) { return map(pthread_cond_signal((pthread_cond_t*)c)); }
int cnd_broadcast(cnd_t* c) { return map(pthread_cond_broadcast((pthread_cond_t*)c)); }
int cnd_wait(cnd_t* c, mtx_t* m) { return map(pthread_cond_wait((pthread_cond_t*)c, (pthread_mutex_t*)m)); }
int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* ts) {
  return map(pthread_cond_timedwait((pthread_cond_t*)c, (pthread_mutex_t*)m, ts));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy((pthread_cond_t*)c); }
void call_once(once_flag* f, void (*fn)(void)) { pthread_once((pthread_once_t*)f, fn); }
}  // extern "C"
static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t layout");
static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t layout");
static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag layout");
