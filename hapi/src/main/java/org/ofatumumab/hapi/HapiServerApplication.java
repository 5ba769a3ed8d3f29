package org.ofatumumab.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Import;

/**
 * A plain HAPI FHIR R4 JPA server used as the app's local/test FHIR backend.
 *
 * <p>HAPI ships its whole server as Spring {@code @Configuration} classes; we only pick the ones
 * we need and supply the few beans HAPI expects the host application to own (see
 * {@link FhirServerConfig}).
 */
@SpringBootApplication
@Import({
	// R4 FhirContext, DAOs, resource providers, system provider (transaction/batch), search, terminology.
	JpaR4Config.class,
	// Default implementations of the small services JpaConfig leaves to the host (paging provider,
	// stale-search cleanup, resource counts, fulltext stubs). Using HAPI's own beats re-declaring them.
	HapiJpaConfig.class,
	ThreadPoolFactoryConfig.class,
	// Batch2 engine + job definitions: $export (bulk data) is a Batch2 job, and
	// BulkDataExportProvider lives here.
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	// Batch2 hands work chunks to its workers through HAPI's in-JVM message channels.
	SubscriptionChannelConfig.class,
})
public class HapiServerApplication {

	public static void main(String[] args) {
		SpringApplication.run(HapiServerApplication.class, args);
	}
}
