# The data plane: strom-coordinator, strom-broker, strom-pipeline and stromctl in one image (the operator picks
# the binary per container). Base: a Debian bookworm minbase made by debootstrap + docker import
# (tests/images.sh), since no image can be pulled here; any Debian slim base works the same.
FROM strom/debian:bookworm-minbase
COPY bin/strom-coordinator bin/strom-broker bin/strom-pipeline bin/stromctl /usr/local/bin/
USER 10001:10001
WORKDIR /data
ENTRYPOINT []
CMD ["strom-coordinator", "--help"]
