package org.ofatumumab.hapi;

import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.entity.StorageSettings;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.api.SearchTotalModeEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.CorsInterceptor;
import ca.uhn.fhir.rest.server.interceptor.LoggingInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import java.util.List;
import javax.sql.DataSource;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.orm.jpa.JpaProperties;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.web.cors.CorsConfiguration;

/** The beans HAPI's JPA configuration expects the embedding application to provide. */
@Configuration
public class FhirServerConfig {

	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings s = new JpaStorageSettings();
		// By default an identical search within 60 s is answered from the cached result, so a
		// search right after a create misses the new resource. Tests need read-your-writes.
		s.setReuseCachedSearchResultsForMillis(null);
		// The app stores references to resources on other servers (e.g. the EHR's Patient).
		s.setAllowExternalReferences(true);
		// Let clients PUT any id (also purely numeric ones, as real EHRs use) and keep
		// server-assigned ids as UUIDs so they can never collide with client ids.
		s.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ANY);
		s.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.UUID);
		// A reference to a missing local resource must fail (as on a real server) rather than
		// silently create an empty placeholder that hides ordering bugs in the app.
		s.setAutoCreatePlaceholderReferenceTargets(false);
		// Makes `param:missing=true|false` searches work.
		s.setIndexMissingFields(StorageSettings.IndexEnabledEnum.ENABLED);
		// Always return Bundle.total: the app shows counts and the data set here is tiny.
		s.setDefaultTotalMode(SearchTotalModeEnum.ACCURATE);
		// A repeated $export must reflect data written since the previous one, not reuse that job.
		s.setEnableBulkExportJobReuse(false);
		// Let test suites wipe the server between runs ($expunge, DELETE Type?criteria).
		s.setExpungeEnabled(true);
		s.setAllowMultipleDelete(true);
		return s;
	}

	/** Partitioning stays off; HAPI still needs the settings object. */
	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	/**
	 * HAPI builds its own EMF (its entity packages, Hibernate integrators); we only hand it the
	 * Boot-managed DataSource and the Hibernate properties from {@code spring.jpa.properties}.
	 */
	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource,
			JpaProperties jpaProperties) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		emf.getJpaPropertyMap().putAll(jpaProperties.getProperties());
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory emf) {
		return new JpaTransactionManager(emf);
	}

	/** Binary content (incl. the NDJSON files $export produces) lives in the same database. */
	@Bean
	public IBinaryStorageSvc binaryStorageSvc() {
		return new DatabaseBinaryContentStorageSvcImpl();
	}

	/**
	 * Batch2 (which runs $export) moves a job from step to step in a maintenance pass that HAPI 8.8
	 * schedules every 60 s: a tiny export then takes 3-4 minutes (measured). HAPI 8.12 lowered it
	 * to 5 s (~15-20 s per export here); at 1 s an export takes ~4 s and the pass costs nothing on an
	 * in-memory DB. The setter must run before the scheduler registers the job at startup.
	 */
	@Bean
	public static BeanPostProcessor batch2MaintenanceInterval(
			@Value("${hapi.batch2.maintenance-interval-millis:1000}") long millis) {
		return new BeanPostProcessor() {
			@Override
			public Object postProcessBeforeInitialization(Object bean, String name) {
				if (bean instanceof JobMaintenanceServiceImpl svc) {
					svc.setScheduledJobFrequencyMillis(millis);
				}
				return bean;
			}
		};
	}

	@Bean
	public CorsInterceptor corsInterceptor() {
		// The SMART app and browser tools call this server from other origins; no credentials
		// are involved, so any origin is fine for a local/test server.
		CorsConfiguration cors = new CorsConfiguration();
		cors.addAllowedOriginPattern("*");
		cors.addAllowedHeader("*");
		cors.setAllowedMethods(List.of("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"));
		// Clients need these to follow creates and $export kick-offs.
		cors.setExposedHeaders(List.of("Location", "Content-Location", "ETag", "Last-Modified", "X-Progress"));
		cors.setAllowCredentials(false);
		return new CorsInterceptor(cors);
	}

	@Bean
	public RestfulServer restfulServer(
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviders,
			IJpaSystemProvider systemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			BulkDataExportProvider bulkDataExportProvider,
			CorsInterceptor corsInterceptor,
			@Value("${hapi.paging.default-page-size:20}") int defaultPageSize,
			@Value("${hapi.paging.max-page-size:500}") int maxPageSize) {
		RestfulServer server = new RestfulServer(systemDao.getContext());
		// One provider per R4 resource type (CRUD, search, _include, Patient/$everything, ...).
		server.registerProviders(resourceProviders.createProviders());
		// POST [base] with batch/transaction Bundles, _history, $meta.
		server.registerProvider(systemProvider);
		// $export, $export-poll-status; the NDJSON outputs are ordinary Binary resources.
		server.registerProvider(bulkDataExportProvider);
		// Capability statement built from what is actually registered and indexed.
		server.setServerConformanceProvider(new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport));

		// HAPI's own default paging is 10/50; match hapi.fhir.org (20/500) so that paging
		// behaviour seen in tests is the one a typical HAPI deployment shows.
		pagingProvider.setDefaultPageSize(defaultPageSize);
		pagingProvider.setMaximumPageSize(maxPageSize);
		server.setPagingProvider(pagingProvider);

		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		server.registerInterceptor(corsInterceptor);

		// One line per request on stdout: the first thing to look at when a test fails.
		LoggingInterceptor requestLog = new LoggingInterceptor();
		requestLog.setLoggerName("fhir.request");
		requestLog.setMessageFormat("${requestVerb} ${requestUrl}${requestParameters} -> ${operationType} ${processingTimeMillis}ms");
		requestLog.setErrorMessageFormat("${requestVerb} ${requestUrl}${requestParameters} -> ERROR ${exceptionMessage}");
		requestLog.setLogExceptions(true);
		server.registerInterceptor(requestLog);
		return server;
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServlet(RestfulServer server) {
		ServletRegistrationBean<RestfulServer> reg = new ServletRegistrationBean<>(server, "/fhir/*");
		reg.setName("fhir");
		// Initialise HAPI's servlet at startup so the first request is not a slow one.
		reg.setLoadOnStartup(1);
		return reg;
	}
}
