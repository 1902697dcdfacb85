# The operator (chart: charts/strom). Same base as the data plane.
FROM strom/debian:bookworm-minbase
COPY bin/strom-operator /usr/local/bin/
USER 10001:10001
ENTRYPOINT ["strom-operator"]
