# ums_add_vm_test: run a test program inside the multi-NUMA QEMU guest.
#
#   ums_add_vm_test(NAME name TARGET tgt [NODES 2|4] [CPUS k] [MEMONLY] [GPU [GPU_NODE n]]
#                   [ARGS arg...] [RUN "tgt2 arg..."...] [ENV K=V...]
#                   [FILES src[:dst]...] [MODULES kmod...] [MEM mib]
#                   [TIMEOUT s] [LABELS l...])
#
# The test runs `vm.sh run` with the matching options (CPUS is vCPUs per
# CPU node, MEM MiB per node) and the target's file; each RUN entry (one
# string: a target name or an absolute path, then its arguments) runs after
# it in the same guest, so one boot serves several programs (the test fails
# if any fails),
# needs the ums_vm fixture (vm.sh setup, run once before the first VM test),
# holds the ums_vm resource lock (one guest at a time), is labelled "vm", and
# is skipped (exit 77) where QEMU cannot run. TIMEOUT bounds the ctest test;
# the guest itself is bounded 30 s earlier so that its console is printed.
# Include this file from anywhere; tests/vm/CMakeLists.txt includes it too.
include_guard(GLOBAL)

find_program(UMS_BASH bash REQUIRED)

function(ums_add_vm_test)
  cmake_parse_arguments(V "MEMONLY;GPU" "NAME;TARGET;NODES;CPUS;MEM;TIMEOUT;GPU_NODE"
                        "ARGS;RUN;ENV;FILES;MODULES;LABELS" ${ARGN})
  if(NOT V_NAME OR NOT V_TARGET)
    message(FATAL_ERROR "ums_add_vm_test: NAME and TARGET are required")
  endif()
  if(V_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "ums_add_vm_test(${V_NAME}): unknown arguments ${V_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT V_NODES)
    set(V_NODES 2)
  endif()
  if(NOT V_TIMEOUT)
    set(V_TIMEOUT 300)
  endif()
  math(EXPR guest_timeout "${V_TIMEOUT} - 30")
  if(guest_timeout LESS 30)
    message(FATAL_ERROR "ums_add_vm_test(${V_NAME}): TIMEOUT must be at least 60")
  endif()

  set(cmd ${UMS_BASH} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/vm.sh run
      --nodes ${V_NODES} --timeout ${guest_timeout})
  if(V_MEMONLY)
    list(APPEND cmd --memonly)
  endif()
  if(V_GPU)
    list(APPEND cmd --gpu)
  endif()
  if(DEFINED V_GPU_NODE)
    list(APPEND cmd --gpu-node ${V_GPU_NODE})
  endif()
  if(V_CPUS)
    list(APPEND cmd --cpus-per-node ${V_CPUS})
  endif()
  if(V_MEM)
    list(APPEND cmd --mem ${V_MEM})
  endif()
  foreach(e IN LISTS V_ENV)
    list(APPEND cmd --env ${e})
  endforeach()
  foreach(f IN LISTS V_FILES)
    list(APPEND cmd --file ${f})
  endforeach()
  foreach(m IN LISTS V_MODULES)
    list(APPEND cmd --module ${m})
  endforeach()

  set(more)
  foreach(r IN LISTS V_RUN)
    separate_arguments(words UNIX_COMMAND "${r}")
    list(POP_FRONT words prog)
    if(NOT IS_ABSOLUTE "${prog}")
      set(prog $<TARGET_FILE:${prog}>)
    endif()
    list(APPEND more ::: ${prog} ${words})
  endforeach()

  add_test(NAME ${V_NAME} COMMAND ${cmd} -- $<TARGET_FILE:${V_TARGET}> ${V_ARGS} ${more})
  set_tests_properties(${V_NAME} PROPERTIES
    FIXTURES_REQUIRED ums_vm
    RESOURCE_LOCK ums_vm
    SKIP_RETURN_CODE 77
    TIMEOUT ${V_TIMEOUT}
    LABELS "vm;${V_LABELS}")
endfunction()
