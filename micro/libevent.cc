// libevent-select, libevent-poll, libevent-epoll — libevent 2.1 with one
// backend forced.
//
// libevent picks the best backend it has; event_config_avoid_method() on every
// other supported method forces the one under test, and the benchmark refuses
// to run if event_base_get_method() then names another. This is what
// libevent's own test/bench.c measures: its dispatch loop (timer heap check,
// active queue, callbacks) on top of the kernel mechanism, so the difference
// to the raw "select"/"poll"/"epoll" rows is libevent's overhead.
// Events are EV_READ|EV_PERSIST with bench.c's one-byte read callback, and
// each dispatch is event_base_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK), as there.
// Registration: event_add() + event_del() of a pre-assigned event.
// Limits: libevent-select is kept to the N that select itself can take.
#include <event2/event.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "mechanism.h"
#include "workload.h"

namespace muxbench::micro {
namespace {

struct BaseDeleter {
  void operator()(event_base* b) const { event_base_free(b); }
};
struct EventDeleter {
  void operator()(event* e) const { event_free(e); }
};
using Base = std::unique_ptr<event_base, BaseDeleter>;
using Event = std::unique_ptr<event, EventDeleter>;

// An event_base running `method` and nothing else, or null with *err set.
Base make_base(const char* method, std::string* err) {
  event_config* cfg = event_config_new();
  if (cfg == nullptr) {
    *err = "event_config_new failed";
    return nullptr;
  }
  // IGNORE_ENV: EVENT_NOEPOLL and friends must not change what is measured.
  // NOLOCK: one thread.
  event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV);
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  for (const char** m = event_get_supported_methods(); m != nullptr && *m != nullptr; ++m) {
    if (std::strcmp(*m, method) != 0) event_config_avoid_method(cfg, *m);
  }
  Base base(event_base_new_with_config(cfg));
  event_config_free(cfg);
  if (!base) {
    *err = std::string("event_base_new_with_config: no base with method ") + method;
  } else if (std::strcmp(event_base_get_method(base.get()), method) != 0) {
    *err = std::string("libevent chose ") + event_base_get_method(base.get()) + ", not " + method;
    base.reset();
  }
  return base;
}

struct Slot {
  Chain* chain;
  int index;
};

void on_read(evutil_socket_t, short, void* arg) {
  auto* slot = static_cast<Slot*>(arg);
  slot->chain->read_one(slot->index);
}

// One event per pair's read end, all with callback on_read; slots hold their
// arguments and must outlive them.
bool make_events(event_base* base, const Pairs& pairs, std::vector<Slot>& slots,
                 std::vector<Event>& events, std::string* err) {
  events.reserve(static_cast<std::size_t>(pairs.size()));
  for (int i = 0; i < pairs.size(); ++i) {
    events.emplace_back(event_new(base, pairs.reader(i), EV_READ | EV_PERSIST, on_read,
                                  &slots[static_cast<std::size_t>(i)]));
    if (!events.back()) {
      *err = "event_new failed";
      return false;
    }
  }
  return true;
}

template <const char* kMethod>
void dispatch(benchmark::State& state, const Workload& w) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(w.pairs, &err)) return state.SkipWithError(err.c_str());
  Base base = make_base(kMethod, &err);
  if (!base) return state.SkipWithError(err.c_str());

  Chain chain(pairs, w);
  std::vector<Slot> slots;
  for (int i = 0; i < pairs.size(); ++i) slots.push_back({&chain, i});
  std::vector<Event> events;  // destroyed before base: declared after it
  if (!make_events(base.get(), pairs, slots, events, &err)) return state.SkipWithError(err.c_str());
  for (auto& ev : events) {
    if (event_add(ev.get(), nullptr) != 0) return state.SkipWithError("event_add failed");
  }

  run_rounds(state, chain, w, [&](std::string* error) {
    if (event_base_loop(base.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK) < 0) {
      *error = "event_base_loop failed";
      return false;
    }
    return true;
  });
}

template <const char* kMethod>
void registration(benchmark::State& state, int n) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(n, &err)) return state.SkipWithError(err.c_str());
  Base base = make_base(kMethod, &err);
  if (!base) return state.SkipWithError(err.c_str());
  Workload unused{n, 1, 0};
  Chain chain(pairs, unused);  // never called: nothing becomes readable
  std::vector<Slot> slots;
  for (int i = 0; i < n; ++i) slots.push_back({&chain, i});
  std::vector<Event> events;
  if (!make_events(base.get(), pairs, slots, events, &err)) return state.SkipWithError(err.c_str());

  for (auto _ : state) {
    for (auto& ev : events) {
      if (event_add(ev.get(), nullptr) != 0) return state.SkipWithError("event_add failed");
    }
    for (auto& ev : events) {
      if (event_del(ev.get()) != 0) return state.SkipWithError("event_del failed");
    }
  }
  set_registration_counters(state, pairs);
}

constexpr char kSelectName[] = "select";
constexpr char kPollName[] = "poll";
constexpr char kEpollName[] = "epoll";

}  // namespace

const Mechanism kLibeventSelect = {"libevent-select", "libevent", true, dispatch<kSelectName>,
                                   registration<kSelectName>};
const Mechanism kLibeventPoll = {"libevent-poll", "libevent", false, dispatch<kPollName>,
                                 registration<kPollName>};
const Mechanism kLibeventEpoll = {"libevent-epoll", "libevent", false, dispatch<kEpollName>,
                                  registration<kEpollName>};

}  // namespace muxbench::micro
