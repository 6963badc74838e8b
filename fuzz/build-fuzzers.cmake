# Configures and builds the instrumented fuzz build (cmake -P script, run
# by the fuzz/build CTest fixture): SOURCE, BUILD and CLANG are given.
execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${SOURCE} -B ${BUILD}
        -DCMAKE_C_COMPILER=${CLANG} -DTOKEND_FUZZ=ON
        -DCMAKE_BUILD_TYPE=RelWithDebInfo
    OUTPUT_QUIET
    RESULT_VARIABLE status)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "configuring the fuzz build failed")
endif()

cmake_host_system_information(RESULT cores QUERY NUMBER_OF_LOGICAL_CORES)
execute_process(
    COMMAND ${CMAKE_COMMAND} --build ${BUILD} --target fuzzers -j ${cores}
    RESULT_VARIABLE status)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "building the fuzzers failed")
endif()
